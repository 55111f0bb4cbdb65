"""Which server software answered the detection probes: pure rules over the answers, no I/O.

:mod:`orbit_local.net.discovery` sends the probes and keeps what they found; this module only reads
the answers. Every rule asks for the server's own shape, never a bare ``200``: a front end, a
proxy or a web app answers ``200`` with an HTML page on every route, and LM Studio answers
unknown routes with ``200`` and an ``error`` object (facts in ``docs/providers/``).

Why probes in this order: KoboldCpp impersonates llama.cpp's ``/props`` and Ollama's
``/api/version``, so ``/api/extra/version`` decides first. Lemonade registers every route under
``/api/v0`` too, so its ``/api/v1/health`` comes before LM Studio's ``/api/v0/models``. LocalAI
also has ``/version``, so its ``/readyz`` comes before vLLM's ``/version``. The rest are told
apart by ``owned_by`` in the model list, and last by a default port that only one server uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orbit_local.facts.providers import ProviderProfile, get_provider, list_providers
from orbit_local.facts.urls import api_prefix, origin_of, path_of, port_of, with_api_prefix


@dataclass(frozen=True, slots=True)
class Probe:
    """One GET on the server's origin and the rule that reads its answer."""

    name: str
    path: str


PROBES: tuple[Probe, ...] = (
    Probe("koboldcpp", "/api/extra/version"),
    Probe("lemonade", "/api/v1/health"),
    Probe("lmstudio", "/api/v0/models"),
    Probe("localai", "/readyz"),
    Probe("llamacpp", "/props"),
    Probe("vllm", "/version"),
    Probe("ollama", "/api/version"),
    Probe("models", "/v1/models"),
)
"""``models`` is asked under the API path the user gave (``<base_url>/models``), the others on
the origin: a server's native routes live at its root, its model list where its API is."""


@dataclass(frozen=True, slots=True)
class Answer:
    """What one probe got back: ``status`` is ``None`` when the request failed."""

    status: int | None
    body: Any = None  # the decoded JSON, or the text when it is not JSON
    retry_after: float | None = None
    """Seconds a 503 asked to wait (``Retry-After``), for the warm-up retries."""

    @property
    def ok_json(self) -> dict[str, Any] | None:
        """The body when the status is 2xx and the body is a JSON object without ``error``."""
        if self.status is None or not 200 <= self.status < 300 or not isinstance(self.body, dict):
            return None
        return None if "error" in self.body else self.body

    @property
    def described(self) -> str:
        """The answer in a few words, for an error that says what the server did answer."""
        if self.status is None:
            return "no answer"
        if isinstance(self.body, str) and self.body.lstrip()[:1] == "<":
            return f"{self.status} (an HTML page)"
        return str(self.status)


@dataclass(slots=True)
class FoundServer:
    """A server that answered, and which profile fits it."""

    profile: ProviderProfile
    base_url: str
    models: list[str] = field(default_factory=list)
    version: str | None = None
    evidence: str = ""
    """Which answer decided the profile, e.g. ``GET /props has default_generation_settings``."""

    @property
    def default_model(self) -> str | None:
        return self.models[0] if self.models else None


def base_url_for(profile: ProviderProfile, url: str) -> str:
    """The profile's API prefix on the given server: a URL with a path keeps it (the user said
    where the API is); a bare origin gets the profile's (``/v1``, Lemonade's ``/api/v1``)."""
    return with_api_prefix(url, api_prefix(profile.default_base_url))


def probe_url(url: str, probe: Probe) -> str:
    """Where ``probe`` goes for the server at ``url`` (see :data:`PROBES`)."""
    if probe.name == "models" and path_of(url):
        return origin_of(url) + path_of(url) + "/models"
    return origin_of(url) + probe.path


def model_ids(answer: Answer) -> list[str]:
    entries = _entries(answer)
    return [str(entry["id"]) for entry in entries or [] if isinstance(entry, dict) and entry.get("id")]


def _entries(answer: Answer | None) -> list[Any] | None:
    """The ``data`` list of an OpenAI model list, or ``None`` when the answer is not one."""
    body = answer.ok_json if answer is not None else None
    data = body.get("data") if body else None
    return data if isinstance(data, list) else None


def _owners(answer: Answer | None) -> set[str]:
    entries = _entries(answer) or []
    return {str(entry["owned_by"]) for entry in entries if isinstance(entry, dict) and entry.get("owned_by")}


def _version(body: dict[str, Any] | None, *keys: str) -> str | None:
    for key in keys:
        value = (body or {}).get(key)
        if isinstance(value, (str, int, float)) and value != "":
            return str(value)
    return None


def _by_port(origin: str) -> ProviderProfile | None:
    """The one profile whose default URL uses this port, when only one does."""
    port = port_of(origin)
    owners = {p.name: p for p in list_providers() if p.default_base_url and port_of(p.default_base_url) == port}
    return next(iter(owners.values())) if len(owners) == 1 else None


def _localai(answers: dict[str, Answer]) -> str | None:
    """Why the answers are LocalAI's, or ``None``.

    LocalAI's ``/readyz`` answers 200 with ``OK`` (v2) or nothing (v3+), or 503
    ``{"status": "starting", ...}`` while it preloads (providers/localai.md). A 200 alone says
    nothing (an HTML front end answers every route so), so the 200 must come with LocalAI's
    ``/version`` object, or with a model list whose entries carry no ``owned_by`` (LocalAI's
    never do; vLLM's, llama.cpp's, FastChat's ... always do).
    """
    ready = answers.get("localai")
    if ready is None or ready.status is None:
        return None
    if ready.status == 503 and isinstance(ready.body, dict) and ready.body.get("status") == "starting":
        return "GET /readyz answered 503 {'status': 'starting'}"
    plain = ready.body is None or (isinstance(ready.body, str) and ready.body.strip().upper() == "OK")
    if not (200 <= ready.status < 300 and plain):
        return None
    version = answers["vllm"].ok_json if "vllm" in answers else None
    if version is not None and _version(version, "version") is not None:
        return "GET /readyz answered OK and GET /version names a version"
    entries = _entries(answers.get("models"))
    if entries and all(isinstance(e, dict) and "owned_by" not in e for e in entries):
        return "GET /readyz answered OK and GET /v1/models lists models without owned_by"
    return None


def classify(origin: str, answers: dict[str, Answer]) -> tuple[ProviderProfile, str, str | None] | None:
    """The profile the probe answers point to, why, and the server's version (pure).

    ``None`` when nothing answered, or nothing answered in a known server's own shape.
    """
    if all(a.status is None for a in answers.values()):
        return None

    def body(name: str) -> dict[str, Any] | None:
        return answers[name].ok_json if name in answers else None

    kobold = body("koboldcpp")
    if kobold and kobold.get("result") == "KoboldCpp":
        return get_provider("koboldai"), "GET /api/extra/version says KoboldCpp", _version(kobold, "version")
    health = body("lemonade")
    if health and "status" in health and "model_loaded" in health:
        return get_provider("lemonade"), "GET /api/v1/health has model_loaded", _version(health, "version")
    native = body("lmstudio")
    entries = native.get("data") if native else None
    if isinstance(entries, list) and any(
        isinstance(e, dict) and ("compatibility_type" in e or "state" in e) for e in entries
    ):
        return get_provider("lmstudio"), "GET /api/v0/models lists model states", None
    localai = _localai(answers)
    if localai is not None:
        return get_provider("localai"), localai, _version(body("vllm"), "version")
    props = body("llamacpp")
    if props and "default_generation_settings" in props:
        return get_provider("llamacpp"), "GET /props has default_generation_settings", _version(props, "build_info")
    models = answers.get("models")
    owners = _owners(models)
    listed = _entries(models) is not None
    version = body("vllm")
    # vLLM's /version is a bare {"version": ...}: believed only where no model list says otherwise
    if version and _version(version, "version") is not None and ("vllm" in owners or not listed):
        return get_provider("vllm"), "GET /version answered", _version(version, "version")
    ollama = body("ollama")
    if ollama and "version" in ollama:
        return get_provider("ollama"), "GET /api/version answered", _version(ollama, "version")
    for profile in list_providers():
        if profile.owned_by & owners:
            owner = sorted(profile.owned_by & owners)[0]
            return profile, f"GET /v1/models says owned_by {owner!r}", None
    if not listed:
        return None  # no native route and no OpenAI model list: nothing we know answered
    by_port = _by_port(origin)
    if by_port is not None:
        port = port_of(origin)
        return by_port, f"the only server whose default port is {port} (GET /v1/models answered like OpenAI)", None
    return get_provider("openai-compatible"), "GET /v1/models answered like OpenAI", None

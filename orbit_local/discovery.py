"""Find local servers and tell which server software answers at a URL.

One set of probes serves three callers: ``orbit-local discover`` (every profile's default
port, concurrently), auto-detection (``provider="auto"``, or ``ChatOrbitLocal(base_url=...)``
with no provider) and the hint added to a server error when another profile would have
avoided it. Deciding from the answers (:func:`classify`) is pure; only :func:`identify`,
:func:`aidentify` and :func:`adiscover` do I/O, with a short timeout.

Why probes in this order (facts in ``docs/providers/``): KoboldCpp impersonates llama.cpp's
``/props`` and Ollama's ``/api/version``, so ``/api/extra/version`` decides first. Lemonade
registers every route under ``/api/v0`` too, so its ``/api/v1/health`` comes before LM Studio's
``/api/v0/models``. LM Studio answers unknown routes with HTTP 200 and an ``error`` object, so
every probe checks the body's shape, never the status alone. LocalAI also has ``/version``, so
its ``/readyz`` comes before vLLM's ``/version``. The rest are told apart by ``owned_by`` in the
model list, and last by a default port that only one server uses.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from orbit_local._lazy import lazy_module
from orbit_local.providers import ProviderProfile, get_provider, list_providers

if TYPE_CHECKING:
    import httpx
else:
    httpx = lazy_module("httpx")

DETECT_TIMEOUT = 2.0
"""Seconds one probe may take. Local servers answer in milliseconds; a stuck one must not
hold up a program that only wanted to know what runs."""


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


@dataclass(frozen=True, slots=True)
class Answer:
    """What one probe got back: ``status`` is ``None`` when the request failed."""

    status: int | None
    body: Any = None  # the decoded JSON, or the text when it is not JSON

    @property
    def ok_json(self) -> dict[str, Any] | None:
        """The body when the status is 2xx and the body is a JSON object without ``error``."""
        if self.status is None or not 200 <= self.status < 300 or not isinstance(self.body, dict):
            return None
        return None if "error" in self.body else self.body


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


def _origin(url: str) -> str:
    parts = urlsplit(url if "://" in url else f"http://{url}")
    return f"{parts.scheme}://{parts.netloc}"


def _path_of(url: str) -> str:
    return urlsplit(url).path.rstrip("/")


def base_url_for(profile: ProviderProfile, url: str) -> str:
    """The profile's API prefix on the given server: a URL with a path keeps it (the user said
    where the API is); a bare origin gets the profile's (``/v1``, Lemonade's ``/api/v1``)."""
    if _path_of(url if "://" in url else f"http://{url}"):
        return url.rstrip("/")
    prefix = _path_of(profile.default_base_url) or "/v1"
    return _origin(url) + prefix


def _model_ids(answer: Answer) -> list[str]:
    body = answer.ok_json
    data = body.get("data") if body else None
    if not isinstance(data, list):
        return []
    return [str(entry["id"]) for entry in data if isinstance(entry, dict) and entry.get("id")]


def _owners(answer: Answer) -> set[str]:
    body = answer.ok_json
    data = body.get("data") if body else None
    if not isinstance(data, list):
        return set()
    return {str(entry["owned_by"]) for entry in data if isinstance(entry, dict) and entry.get("owned_by")}


def _version(body: dict[str, Any] | None, *keys: str) -> str | None:
    for key in keys:
        value = (body or {}).get(key)
        if isinstance(value, (str, int, float)) and value != "":
            return str(value)
    return None


def _by_port(origin: str) -> ProviderProfile | None:
    """The one profile whose default URL uses this port, when only one does."""
    port = urlsplit(origin).port
    owners = {p.name: p for p in list_providers() if p.default_base_url and urlsplit(p.default_base_url).port == port}
    return next(iter(owners.values())) if len(owners) == 1 else None


def classify(origin: str, answers: dict[str, Answer]) -> tuple[ProviderProfile, str, str | None] | None:
    """The profile the probe answers point to, why, and the server's version (pure).

    ``None`` when nothing answered at all.
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
    ready = answers.get("localai")
    if ready is not None and ready.status is not None:
        not_an_error = not (isinstance(ready.body, dict) and "error" in ready.body)
        starting = ready.status == 503 and isinstance(ready.body, dict) and ready.body.get("status") == "starting"
        if (200 <= ready.status < 300 and not_an_error) or starting:
            return get_provider("localai"), "GET /readyz answered", _version(body("vllm"), "version")
    props = body("llamacpp")
    if props and "default_generation_settings" in props:
        return get_provider("llamacpp"), "GET /props has default_generation_settings", _version(props, "build_info")
    owners = _owners(answers.get("models", Answer(None)))
    version = body("vllm")
    if version and "version" in version and (not owners or "vllm" in owners):
        return get_provider("vllm"), "GET /version answered", _version(version, "version")
    ollama = body("ollama")
    if ollama and "version" in ollama:
        return get_provider("ollama"), "GET /api/version answered", _version(ollama, "version")
    for profile in list_providers():
        if profile.owned_by & owners:
            owner = sorted(profile.owned_by & owners)[0]
            return profile, f"GET /v1/models says owned_by {owner!r}", None
    by_port = _by_port(origin)
    if by_port is not None:
        return by_port, f"the only server whose default port is {urlsplit(origin).port}", None
    if answers.get("models", Answer(None)).ok_json is not None:
        return get_provider("openai-compatible"), "GET /v1/models answered like OpenAI", None
    return None


def _answer(response: httpx.Response) -> Answer:
    try:
        decoded: Any = json.loads(response.content) if response.content.strip() else None
    except ValueError:
        decoded = response.text
    return Answer(response.status_code, decoded)


def _headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def _found(url: str, answers: dict[str, Answer]) -> FoundServer | None:
    origin = _origin(url)
    decided = classify(origin, answers)
    if decided is None:
        return None
    profile, evidence, version = decided
    return FoundServer(profile, base_url_for(profile, url), _model_ids(answers["models"]), version, evidence)


_CACHE: dict[str, FoundServer] = {}
_CACHE_LOCK = threading.Lock()


def cached(url: str) -> FoundServer | None:
    """What an earlier detection found at this URL's origin (no I/O)."""
    return _CACHE.get(_origin(url))


def forget() -> None:
    """Drop every cached detection (a server was swapped for another on the same port)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _remember(url: str, found: FoundServer | None) -> FoundServer | None:
    if found is not None:
        with _CACHE_LOCK:
            _CACHE[_origin(url)] = found
    return found


def identify(
    url: str,
    *,
    api_key: str | None = None,
    timeout: float = DETECT_TIMEOUT,
    client: httpx.Client | None = None,
    refresh: bool = False,
) -> FoundServer | None:
    """Which server answers at ``url`` (cached per origin); ``None`` when nothing answers.

    Every probe is sent, in order, so a recorded session replays the same requests; when the
    first one cannot connect, nothing listens and the rest are skipped.
    """
    known = None if refresh else cached(url)
    if known is not None:
        return known
    origin = _origin(url)
    owned = client is None
    http = client or httpx.Client(timeout=timeout)
    answers: dict[str, Answer] = {}
    try:
        for probe in PROBES:
            try:
                answers[probe.name] = _answer(http.get(origin + probe.path, headers=_headers(api_key), timeout=timeout))
            except httpx.ConnectError:
                return None
            except httpx.HTTPError:
                answers[probe.name] = Answer(None)
    finally:
        if owned:
            http.close()
    return _remember(url, _found(url, answers))


async def aidentify(
    url: str,
    *,
    api_key: str | None = None,
    timeout: float = DETECT_TIMEOUT,
    client: httpx.AsyncClient | None = None,
    refresh: bool = False,
) -> FoundServer | None:
    """Async twin of :func:`identify`; the probes run concurrently."""
    known = None if refresh else cached(url)
    if known is not None:
        return known
    origin = _origin(url)
    owned = client is None
    http = client or httpx.AsyncClient(timeout=timeout)

    async def one(probe: Probe) -> Answer | None:
        try:
            return _answer(await http.get(origin + probe.path, headers=_headers(api_key), timeout=timeout))
        except httpx.ConnectError:
            return None
        except httpx.HTTPError:
            return Answer(None)

    try:
        results = await asyncio.gather(*(one(p) for p in PROBES))
    finally:
        if owned:
            await http.aclose()
    if any(result is None for result in results):
        return None
    answers = {probe.name: result for probe, result in zip(PROBES, results, strict=True) if result is not None}
    return _remember(url, _found(url, answers))


def candidate_urls(profiles: list[ProviderProfile] | None = None) -> list[str]:
    """Each profile's base URL (``<PREFIX>BASE_URL`` wins over its default), one per origin."""
    urls: dict[str, str] = {}
    for profile in profiles if profiles is not None else list_providers():
        try:
            url = profile.resolve_base_url()
        except ValueError:
            continue
        urls.setdefault(_origin(url), url)
    return list(urls.values())


async def adiscover(
    timeout: float = 1.0, profiles: list[ProviderProfile] | None = None, urls: list[str] | None = None
) -> list[FoundServer]:
    """Every server answering on the profiles' default ports (or ``urls``), concurrently."""
    targets = urls if urls is not None else candidate_urls(profiles)
    async with httpx.AsyncClient(timeout=timeout) as http:
        found = await asyncio.gather(*(aidentify(url, timeout=timeout, client=http, refresh=True) for url in targets))
    return [server for server in found if server is not None]


def discover(
    timeout: float = 1.0, profiles: list[ProviderProfile] | None = None, urls: list[str] | None = None
) -> list[FoundServer]:
    """Synchronous wrapper of :func:`adiscover` (for scripts and the command line)."""
    return asyncio.run(adiscover(timeout, profiles, urls))


def first_server(timeout: float = 1.0) -> FoundServer | None:
    """The first server answering on a default port, probed one origin after another.

    Used where no event loop may be started (a synchronous client built inside async code);
    a closed port refuses at once, so trying them in turn costs little.
    """
    for url in candidate_urls():
        found = identify(url, timeout=timeout, refresh=True)
        if found is not None:
            return found
    return None

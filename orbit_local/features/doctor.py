"""``orbit-local doctor``: what a server can do, checked for real, one line per check.

Each check sends the smallest request that proves the feature and records ✓, ✗ (with the fix)
or "-" where the server is known not to have the feature (its profile says so, from the facts
in ``docs/providers/``), in which case nothing is sent; "?" where nothing could be tested
(embeddings with no embedding model listed or named: a chat model is never used for them).
A failed first check (the server does not answer) ends the run: every other check would fail
for the same reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from typing import Literal

from orbit_local.backends.client import ChatBackend
from orbit_local.facts.errors import OrbitLocalError
from orbit_local.facts.types import ChatRequest, GenerationParams, Message, ModelInfo, ToolSpec

Status = Literal["ok", "fail", "n/a", "untested"]
MARKS: dict[Status, str] = {"ok": "✓", "fail": "✗", "n/a": "-", "untested": "?"}

_WEATHER = ToolSpec(
    name="get_weather",
    description="Get the weather in a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
_COLOR_SCHEMA = {
    "type": "object",
    "properties": {"color": {"type": "string", "enum": ["red", "blue"]}},
    "required": ["color"],
}


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the report."""

    name: str
    status: Status
    detail: str = ""
    fix: str = ""

    @property
    def line(self) -> str:
        text = f"{MARKS[self.status]} {self.name}"
        if self.detail:
            text += f": {self.detail}"
        if self.status == "fail" and self.fix:
            text += f" — fix: {self.fix}"
        return text

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


NO_EMBEDDING_MODEL = "not tested (no embedding model): the server lists none; pass --embedding-model NAME"


def is_embedding_model(info: ModelInfo) -> bool:
    """Whether the server lists ``info`` as an embedding model: its ``type`` says so (LM Studio,
    ``"embeddings"``), or its id does (``nomic-embed-text``, ``text-embedding-3-small``).

    The embeddings check uses only such a model, or the one the user named: a chat model asked
    for embeddings fails on a healthy server (llama.cpp without ``--embeddings``, LM Studio).
    """
    return (info.kind or "").lower().startswith("embed") or "embed" in info.id.lower()


def _ask(text: str, model: str, max_tokens: int = 16, **fields: object) -> ChatRequest:
    return ChatRequest(
        model=model,
        messages=[Message(role="user", content=text)],
        params=GenerationParams(temperature=0.0, max_tokens=max_tokens),
        **fields,  # type: ignore[arg-type]
    )


def _failed(name: str, error: OrbitLocalError, fix: str) -> Check:
    """The error's own message (its hint becomes the fix, so it is not said twice)."""
    status = f" (HTTP {error.status_code})" if error.status_code is not None else ""
    return Check(name, "fail", f"{error.message}{status}", error.hint or fix)


def _guard(name: str, fix: str, run: Callable[[], Check]) -> Check:
    try:
        return run()
    except OrbitLocalError as error:
        return _failed(name, error, fix)


def run_checks(client: ChatBackend, *, model: str | None = None, embedding_model: str | None = None) -> list[Check]:
    """Every check against one server, in order; stops after an unreachable server."""
    checks: list[Check] = []
    try:
        models = client.list_models()
    except OrbitLocalError as error:
        return [_failed("reachable", error, "start the server")]
    profile = client.profile  # read after the first request: "auto" is resolved then
    name = profile.display_name
    checks.append(Check("reachable", "ok", f"{name} at {client.base_url}"))
    try:
        chosen = client.resolve_model(model)
    except OrbitLocalError as error:
        checks.append(_failed("model loaded", error, "load a model"))
        return checks
    checks.append(Check("model loaded", "ok", f"{chosen} ({len(models)} listed)"))

    def chat() -> Check:
        answer = client.chat(_ask("Say hello.", chosen))
        if not answer.text.strip():
            return Check("chat", "fail", "the answer was empty", "check the model's chat template on the server")
        return Check("chat", "ok", repr(answer.text.strip()[:40]))

    checks.append(_guard("chat", "check the server log", chat))

    streamed: dict[str, object] = {}

    def stream() -> Check:
        pieces = 0
        usage = None
        for delta in client.stream(_ask("Count from one to five.", chosen, max_tokens=24)):
            pieces += 1 if delta.text else 0
            usage = delta.usage or usage
        streamed["usage"] = usage
        if not profile.streaming:
            return Check("streaming", "n/a", f"{name} cannot stream; one chunk is emulated")
        if pieces == 0:
            return Check("streaming", "fail", "no text arrived", "check the server log")
        return Check("streaming", "ok", f"{pieces} chunks")

    checks.append(_guard("streaming", "check the server log", stream))
    if "usage" in streamed:
        if streamed["usage"] is not None:
            checks.append(Check("usage in streams", "ok", str(streamed["usage"])))
        elif profile.stream_usage == "never":
            checks.append(Check("usage in streams", "n/a", f"{name} sends no usage in streams"))
        else:
            checks.append(
                Check("usage in streams", "fail", "no usage arrived", "a newer server version reports stream usage")
            )

    def tools() -> Check:
        choices = profile.tool_choices
        choice: str | dict[str, object] = "auto"
        if "named" in choices:
            choice = {"type": "function", "function": {"name": _WEATHER.name}}
        elif "required" in choices:
            choice = "required"
        answer = client.chat(
            _ask("What is the weather in Paris?", chosen, max_tokens=48, tools=[_WEATHER], tool_choice=choice)
        )
        if answer.tool_calls:
            call = answer.tool_calls[0]
            return Check("tools", "ok", f"{call.name}({json.dumps(call.arguments)})")
        return Check("tools", "fail", "accepted, but the model called no tool", "use a model trained for tool calling")

    if not profile.tool_calling:
        checks.append(Check("tools", "n/a", f"{name} does not take tools"))
    else:
        checks.append(_guard("tools", "check that the server was started with tool calling on", tools))

    def json_schema() -> Check:
        response_format = {"type": "json_schema", "json_schema": {"name": "color", "schema": _COLOR_SCHEMA}}
        answer = client.chat(
            _ask("Pick a color: red or blue. Answer in JSON.", chosen, max_tokens=24, response_format=response_format)
        )
        try:
            value = json.loads(answer.text)
        except ValueError:
            return Check("json_schema", "fail", f"not JSON: {answer.text[:40]!r}", "the server ignored the schema")
        return Check("json_schema", "ok", json.dumps(value))

    if not (profile.json_schema or profile.json_object):
        checks.append(Check("json_schema", "n/a", f"{name} has no JSON mode (schemas go into the prompt)"))
    else:
        checks.append(_guard("json_schema", "the server may need a grammar-capable backend", json_schema))

    embedder = embedding_model or next((m.id for m in models if is_embedding_model(m)), None)

    def embeddings(target: str) -> Check:
        result = client.embed(["hello"], target)
        return Check("embeddings", "ok", f"{target}: {len(result.vectors[0])} dimensions")

    if not profile.embeddings:
        checks.append(Check("embeddings", "n/a", f"{name} has no embeddings endpoint"))
    elif embedder is None:
        checks.append(Check("embeddings", "untested", NO_EMBEDDING_MODEL))
    else:
        checks.append(
            _guard(
                "embeddings",
                "start the server with embeddings on, or pass --embedding-model",
                partial(embeddings, embedder),
            )
        )

    def context() -> Check:
        window = client.context_window()
        if window:
            return Check("context window", "ok", f"{window} tokens")
        return Check("context window", "n/a", f"{name} does not report it")

    checks.append(_guard("context window", "check the server log", context))
    return checks

"""``orbit-local doctor``: each check, what it sends and the line it prints, over in-memory servers.

The report's shape is the one ``docs/cli.md`` promises (check names in order, ``✓``/``✗``/``-``,
``— fix:`` on failed lines); what each server can do comes from ``docs/providers/`` (vLLM takes a
named ``tool_choice``, llama-cpp-python sends no usage in streams, GPT4All cannot stream, ...).
The fake servers answer as an OpenAI-style server does; nothing here is read from the profiles.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Generator
from typing import Any

import httpx
import pytest

from orbit_local.backends.client import ChatClient
from orbit_local.facts.errors import OrbitLocalError
from orbit_local.facts.providers import get_provider
from orbit_local.facts.types import ChatDelta, ChatRequest, ChatResult, EmbeddingResult, ModelInfo, ToolCall, Usage
from orbit_local.features.doctor import Check, run_checks
from tests.fakes import FakeServer, chunk, completion, sse

# docs/cli.md: the doctor's lines, in this order
CHECK_NAMES = [
    "reachable",
    "model loaded",
    "chat",
    "streaming",
    "usage in streams",
    "tools",
    "json_schema",
    "embeddings",
    "context window",
]
LONG_ANSWER = "Hello! I'm here to help with any kind of question you might have today."
PROSE = "Sure! The color I would pick is red, because it is warm."
WEATHER_CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": json.dumps({"city": "Paris"})},
}


def capable(body: dict[str, Any]) -> httpx.Response:
    """A server that does what it is asked: streams, calls the tool, follows the schema, embeds."""
    if "input" in body:  # /embeddings
        vectors = [
            {"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3, 0.4]} for i in range(len(body["input"]))
        ]
        return httpx.Response(200, json={"object": "list", "data": vectors, "model": body["model"]})
    if body.get("stream"):
        frames = [
            chunk(role="assistant", content=""),
            chunk("One"),
            chunk(", two"),
            chunk(", three"),
            chunk(finish="stop"),
        ]
        if body.get("stream_options", {}).get("include_usage"):
            frames.append({"id": "c", "model": body["model"], "choices": [],
                           "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}})  # fmt: skip
        return httpx.Response(200, content=sse(*frames), headers={"content-type": "text/event-stream"})
    if body.get("tools"):
        return httpx.Response(200, json=completion(None, finish="tool_calls", tool_calls=[WEATHER_CALL]))
    if body.get("response_format"):
        return httpx.Response(200, json=completion('{"color": "red"}'))
    return httpx.Response(200, json=completion(LONG_ANSWER))


def doctor(provider: str, server: FakeServer, **kwargs: Any) -> tuple[dict[str, Check], list[dict[str, Any]]]:
    client = ChatClient(provider, base_url="http://127.0.0.1:8000/v1", http_client=server.client(), max_retries=0)
    checks = run_checks(client, **kwargs)
    names = [c.name for c in checks]
    assert len(names) == len(set(names))
    return {c.name: c for c in checks}, [json.loads(r.content) for r in server.requests if r.content]


def sent(bodies: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    return [b for b in bodies if key in b]


def test_a_capable_server_passes_every_check_in_the_documented_order() -> None:
    """vLLM has every feature (docs/providers/vllm.md) and reports max_model_len in its list."""
    server = FakeServer(
        models=[
            {"id": "Qwen/Qwen3-0.6B", "object": "model", "owned_by": "vllm", "max_model_len": 4096},
            {"id": "bge-small", "object": "model", "owned_by": "vllm", "type": "embeddings"},
        ],
        chat=capable,
    )
    checks, bodies = doctor("vllm", server)
    assert list(checks) == CHECK_NAMES
    assert {c.status for c in checks.values()} == {"ok"}
    lines = [c.line for c in checks.values()]
    assert all(line.startswith("✓ ") for line in lines) and not any("fix:" in line for line in lines)
    assert lines[0] == "✓ reachable: vLLM at http://127.0.0.1:8000/v1"
    assert checks["model loaded"].detail == "Qwen/Qwen3-0.6B (2 listed)"
    # the answer, quoted and cut to 40 characters as in docs/cli.md
    assert checks["chat"].detail == repr(LONG_ANSWER[:40])
    assert checks["streaming"].detail.startswith("3 ")  # "One", ", two", ", three": the role chunk has no text
    assert "12" in checks["usage in streams"].detail and "17" in checks["usage in streams"].detail
    assert checks["tools"].detail == 'get_weather({"city": "Paris"})'
    assert checks["json_schema"].detail == '{"color": "red"}'
    assert checks["embeddings"].detail.startswith("bge-small: 4 ")  # the listed embedding model, 4 numbers
    assert checks["context window"].detail.startswith("4096 ")

    chats = sent(bodies, "messages")
    assert all(b["model"] == "Qwen/Qwen3-0.6B" and b["temperature"] == 0 for b in chats)
    assert all(len(b["messages"]) == 1 and b["messages"][0]["role"] == "user" for b in chats)
    (tools,) = sent(bodies, "tools")
    assert tools["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}  # vLLM takes a name
    assert tools["tools"][0]["function"]["parameters"]["required"] == ["city"]
    (schema,) = sent(bodies, "response_format")
    assert schema["response_format"]["type"] == "json_schema"
    assert schema["response_format"]["json_schema"]["schema"]["required"] == ["color"]
    (embed,) = sent(bodies, "input")
    assert embed["model"] == "bge-small"


@pytest.mark.parametrize(
    ("provider", "choice"),
    [
        ("lmstudio", "required"),  # docs/providers/lmstudio.md: named is not honoured, "required" is
        ("ollama", "auto"),  # docs/providers/ollama.md: only "auto" is sent
    ],
)
def test_the_tool_check_asks_for_a_tool_as_firmly_as_the_server_allows(provider: str, choice: str) -> None:
    server = FakeServer(chat=capable)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a choice the server honours: nothing is downgraded with a warning
        checks, bodies = doctor(provider, server)
    (tools,) = sent(bodies, "tools")
    assert tools.get("tool_choice", "auto") == choice
    assert checks["tools"].status == "ok"


def test_embeddings_use_the_model_named_else_one_listed_as_embedding_never_the_chat_model() -> None:
    """A healthy server fails embeddings asked of its chat model (llama.cpp without
    ``--embeddings``, LM Studio): the check uses an embedding model or tests nothing."""
    server = FakeServer(chat=capable)  # lists one chat model
    named, _ = doctor("vllm", server, embedding_model="nomic-embed")
    untested, _ = doctor("vllm", server, model="picked")
    listed, _ = doctor(
        "vllm",
        FakeServer(models=[{"id": "qwen"}, {"id": "nomic-embed-text-v1.5"}, {"id": "bge"}], chat=capable),
    )
    typed, _ = doctor("vllm", FakeServer(models=[{"id": "qwen"}, {"id": "bge", "type": "embeddings"}], chat=capable))
    embeds = sent([json.loads(r.content) for r in server.requests if r.content], "input")
    assert [b["model"] for b in embeds] == ["nomic-embed"]  # and nothing for "picked"
    assert named["embeddings"].status == "ok"
    check = untested["embeddings"]
    assert check.status == "untested" and "fail" not in {c.status for c in untested.values()}
    assert (
        check.line
        == "? embeddings: not tested (no embedding model): the server lists none; pass --embedding-model NAME"
    )
    assert listed["embeddings"].detail.startswith("nomic-embed-text-v1.5: ")
    assert typed["embeddings"].detail.startswith("bge: ")


def test_a_server_with_no_embedding_model_passes_the_doctor() -> None:
    """A healthy chat-only server has no failed check (``orbit-local doctor`` exits 0): no
    embeddings were asked of its chat model."""
    server = FakeServer(chat=capable)
    client = ChatClient("vllm", base_url="http://127.0.0.1:8000/v1", http_client=server.client(), max_retries=0)
    checks = run_checks(client)
    assert [c.status for c in checks].count("untested") == 1 and all(c.status != "fail" for c in checks)
    assert not [r for r in server.requests if r.url.path.endswith("/embeddings")]


def test_answers_that_prove_nothing_fail_with_the_fix() -> None:
    """A server that answers 200 but ignores what was asked: no text, no tool call, no JSON."""

    def lazy(body: dict[str, Any]) -> httpx.Response:
        if "input" in body:
            return capable(body)
        if body.get("stream"):
            frames = sse(chunk(role="assistant", content=""), chunk(finish="stop"))
            return httpx.Response(200, content=frames, headers={"content-type": "text/event-stream"})
        return httpx.Response(200, json=completion("  " if "tools" not in body and "response_format" not in body
                                                   else PROSE))  # fmt: skip

    checks, _ = doctor("vllm", FakeServer(chat=lazy))
    failed = {name: c for name, c in checks.items() if c.status == "fail"}
    assert list(failed) == ["chat", "streaming", "usage in streams", "tools", "json_schema"]
    assert "empty" in failed["chat"].detail and "template" in failed["chat"].fix
    assert "no text" in failed["streaming"].detail and "server log" in failed["streaming"].fix
    assert "no usage" in failed["usage in streams"].detail and "newer server version" in failed["usage in streams"].fix
    assert "no tool" in failed["tools"].detail and "tool calling" in failed["tools"].fix
    # what came instead, cut to 40 characters as the chat line is (docs/cli.md)
    assert "not JSON" in failed["json_schema"].detail and repr(PROSE[:40]) in failed["json_schema"].detail
    assert "schema" in failed["json_schema"].fix
    for check in failed.values():
        assert check.line.startswith(f"✗ {check.name}: {check.detail} — fix: ") and check.line.endswith(check.fix)


@pytest.mark.parametrize(
    ("failing", "name", "fix"),
    [
        ("tools", "tools", "tool calling on"),
        ("response_format", "json_schema", "grammar"),
        ("input", "embeddings", "--embedding-model"),  # docs/cli.md's embeddings line
        ("stream", "streaming", "server log"),
    ],
)
def test_a_server_error_on_one_check_fails_that_check_only(failing: str, name: str, fix: str) -> None:
    """docs/cli.md: ``✗ embeddings: <server's message> (HTTP 500) — fix: start the server with ...``."""

    def answer(body: dict[str, Any]) -> httpx.Response:
        if body.get(failing):
            return httpx.Response(500, json={"error": {"message": "Llama model must be created with embedding=True"}})
        return capable(body)

    checks, _ = doctor("vllm", FakeServer(chat=answer), embedding_model="bge-small")
    assert [c.name for c in checks.values() if c.status == "fail"] == [name]
    # one failed feature does not end the run; a stream that failed has no usage to judge
    assert list(checks) == [n for n in CHECK_NAMES if not (failing == "stream" and n == "usage in streams")]
    line = checks[name].line
    assert line.startswith(f"✗ {name}: ") and "embedding=True" in line and "(HTTP 500)" in line
    assert line.split(" — fix: ")[1].count(fix) == 1


@pytest.mark.parametrize(
    ("provider", "not_applicable", "what"),
    [
        # docs/providers/koboldai.md: the native API has no tools, JSON mode or embeddings
        # (stream usage is counted with /api/extra/tokencount)
        ("koboldai", ["tools", "json_schema", "embeddings"],
         ["does not take tools", "no JSON mode", "no embeddings endpoint"]),
        # docs/providers/fastchat.md: tools and response_format are silently ignored; no usage in streams
        ("fastchat", ["usage in streams", "tools", "json_schema"],
         ["no usage in streams", "does not take tools", "no JSON mode"]),
        # docs/providers/llamacpp.md (llama-cpp-python): no usage in streams; nothing tells the context
        ("llama-cpp-python", ["usage in streams", "context window"], ["no usage in streams", "does not report it"]),
    ],
)  # fmt: skip
def test_what_a_server_cannot_do_is_marked_and_not_sent(
    provider: str, not_applicable: list[str], what: list[str]
) -> None:
    def no_stream_usage(body: dict[str, Any]) -> httpx.Response:
        body.pop("stream_options", None)  # these servers never send usage in a stream
        return capable(body)

    server = FakeServer(chat=no_stream_usage)
    checks, bodies = doctor(provider, server)
    assert list(checks) == CHECK_NAMES
    assert [n for n, c in checks.items() if c.status == "n/a"] == not_applicable
    assert [n for n, c in checks.items() if c.status == "fail"] == []
    for name, words in zip(not_applicable, what, strict=True):
        line = checks[name].line
        assert line.startswith(f"- {name}: ") and words in line and "fix:" not in line
    if "tools" in not_applicable:
        assert not sent(bodies, "tools")
    if "json_schema" in not_applicable:
        assert not sent(bodies, "response_format")
    if "embeddings" in not_applicable:
        assert not [r for r in server.requests if r.url.path.endswith("/embeddings")]


def test_a_server_that_cannot_stream_is_marked_not_failed() -> None:
    """docs/providers/gpt4all.md: ``"stream": true`` is a 400; one chunk is emulated."""
    server = FakeServer(chat=capable)
    checks, bodies = doctor("gpt4all", server)
    assert checks["streaming"].status == "n/a" and "cannot stream" in checks["streaming"].detail
    assert not [b for b in bodies if b.get("stream")]


class Scripted:
    """A backend of the generic profile: answers or raises what it is told."""

    base_url = "http://127.0.0.1:9999/v1"
    profile = get_provider("openai-compatible")
    auto = False

    def context_window(self) -> int | None:
        return None

    def __init__(self, **failures: OrbitLocalError) -> None:
        self.failures = failures
        self.requests: list[ChatRequest] = []

    def _maybe_fail(self, step: str) -> None:
        if step in self.failures:
            raise self.failures[step]

    def list_models(self) -> list[ModelInfo]:
        self._maybe_fail("list")
        return [ModelInfo(id="m1"), ModelInfo(id="m2")]

    def resolve_model(self, model: str | None = None) -> str:
        self._maybe_fail("resolve")
        return model or "m1"

    def chat(self, request: ChatRequest) -> ChatResult:
        self.requests.append(request)
        self._maybe_fail("chat")
        if request.tools:
            return ChatResult(text="", tool_calls=[ToolCall(id="c", name="get_weather", arguments={"city": "Oslo"})])
        return ChatResult(text='{"color": "blue"}' if request.response_format else "Hi")

    def stream(self, request: ChatRequest) -> Generator[ChatDelta, None, None]:
        self._maybe_fail("stream")
        yield ChatDelta(text="Hi")
        yield ChatDelta(usage=Usage(input_tokens=3, output_tokens=1, total_tokens=4))

    def embed(self, texts: list[str], model: str) -> EmbeddingResult:
        self._maybe_fail("embed")
        return EmbeddingResult(vectors=[[0.5, 0.5]])


class WithWindow(Scripted):
    """An in-process backend that knows its context size (the doctor asks when it can)."""

    def context_window(self) -> int | None:
        self._maybe_fail("context")
        return 2048


def test_a_generic_backend_is_tried_on_everything() -> None:
    backend = Scripted()
    checks = {c.name: c for c in run_checks(backend, model="chosen", embedding_model="e5")}
    assert list(checks) == CHECK_NAMES
    assert checks["reachable"].detail == "OpenAI-compatible server at http://127.0.0.1:9999/v1"
    assert [c.status for c in checks.values()] == ["ok"] * 8 + ["n/a"]
    assert checks["context window"].detail == "OpenAI-compatible server does not report it"
    assert checks["model loaded"].detail.startswith("chosen ")
    (tools,) = [r for r in backend.requests if r.tools]
    # the generic profile honours a named choice: the doctor names its one tool
    assert tools.tool_choice == {"type": "function", "function": {"name": "get_weather"}} and tools.model == "chosen"


Fail = Callable[[], OrbitLocalError]


@pytest.mark.parametrize(
    ("step", "error", "expected"),
    [
        # no hint from the server error: the doctor's own fix, and the HTTP status when there is one
        ("list", lambda: OrbitLocalError("connection refused"), ["reachable"]),
        ("resolve", lambda: OrbitLocalError("the server lists no models", status_code=404), ["reachable", "model loaded"]),
    ],
)  # fmt: skip
def test_an_unreachable_server_or_no_model_ends_the_run(step: str, error: Fail, expected: list[str]) -> None:
    checks = run_checks(Scripted(**{step: error()}))
    assert [c.name for c in checks] == expected
    last = checks[-1]
    assert last.status == "fail"
    fix = {"list": "start the server", "resolve": "load a model"}[step]
    assert last.fix == fix and last.line.endswith(f"— fix: {fix}")
    assert ("(HTTP 404)" in last.detail) == (step == "resolve")


def test_the_context_window_is_asked_where_the_backend_can_tell() -> None:
    checks = {c.name: c for c in run_checks(WithWindow())}
    assert checks["context window"].line == "✓ context window: 2048 tokens"  # docs/cli.md's form
    checks = {c.name: c for c in run_checks(WithWindow(context=OrbitLocalError("props failed")))}
    assert checks["context window"].status == "fail" and checks["context window"].fix == "check the server log"


def test_the_errors_own_hint_is_the_fix() -> None:
    """errors.md: an error says what to do; the doctor repeats that instead of its generic fix."""
    hinted = OrbitLocalError("No server answered", hint="start it with `lms server start`")
    (check,) = run_checks(Scripted(list=hinted))
    assert check.fix == "start it with `lms server start`" and check.detail == "No server answered"
    failing = Scripted(embed=OrbitLocalError("no embeddings", status_code=501))
    checks = {c.name: c for c in run_checks(failing, embedding_model="e5")}
    assert checks["embeddings"].fix.startswith("start the server with embeddings on")
    assert checks["embeddings"].detail.endswith("(HTTP 501)")


def test_a_server_that_refuses_every_chat_fails_each_chat_check_with_its_own_fix() -> None:
    checks = {c.name: c for c in run_checks(Scripted(chat=OrbitLocalError("model crashed", status_code=500)))}
    failed = {name: c.fix for name, c in checks.items() if c.status == "fail"}
    assert list(failed) == ["chat", "tools", "json_schema"]  # streaming and embeddings still answer
    assert "server log" in failed["chat"] and "tool calling" in failed["tools"] and "grammar" in failed["json_schema"]
    assert all(checks[name].detail == "model crashed (HTTP 500)" for name in failed)


def test_check_as_dict_is_what_json_output_prints() -> None:
    check = Check("tools", "fail", "accepted", "use another model")
    assert check.as_dict() == {"name": "tools", "status": "fail", "detail": "accepted", "fix": "use another model"}
    assert Check("chat", "ok").line == "✓ chat"
    assert Check("chat", "fail").line == "✗ chat"  # no fix, no dash
    assert Check("tools", "n/a", "no tools", "ignored").line == "- tools: no tools"  # a fix only on failures


# --- each failed line, whole: its detail and its fix ----------------------------------------------
# For each way a check fails, the detail and the fix it prints (docs/cli.md: ``✗ <check>: <detail>
# — fix: <fix>``). The tests above pin the doctor's own fixes where a run ends ("start the server",
# "load a model", "check the server log" for the context window); these pin the rest, for a server
# that answers but proves nothing, and for one whose requests fail without a hint.


def test_a_server_that_answers_but_proves_nothing_gets_each_checks_own_fix() -> None:
    def lazy(body: dict[str, Any]) -> httpx.Response:  # empty text, no tool call, prose for JSON
        if "input" in body:
            return capable(body)
        if body.get("stream"):
            frames = sse(chunk(role="assistant", content=""), chunk(finish="stop"))
            return httpx.Response(200, content=frames, headers={"content-type": "text/event-stream"})
        plain = "tools" not in body and "response_format" not in body
        return httpx.Response(200, json=completion("  " if plain else PROSE))

    checks, _ = doctor("vllm", FakeServer(chat=lazy))
    failed = {name: (c.detail, c.fix) for name, c in checks.items() if c.status == "fail"}
    assert failed == {
        "chat": ("the answer was empty", "check the model's chat template on the server"),
        "streaming": ("no text arrived", "check the server log"),
        "usage in streams": ("no usage arrived", "a newer server version reports stream usage"),
        "tools": ("accepted, but the model called no tool", "use a model trained for tool calling"),
        "json_schema": (f"not JSON: {PROSE[:40]!r}", "the server ignored the schema"),
    }


def test_requests_that_fail_without_a_hint_get_the_doctors_fix_per_check() -> None:
    def broken() -> OrbitLocalError:
        return OrbitLocalError("the connection was reset")  # no hint of its own

    checks = {c.name: c for c in run_checks(Scripted(chat=broken(), stream=broken()))}
    fixes = {name: c.fix for name, c in checks.items() if c.status == "fail"}
    assert fixes == {
        "chat": "check the server log",
        "streaming": "check the server log",
        "tools": "check that the server was started with tool calling on",
        "json_schema": "the server may need a grammar-capable backend",
    }

"""Errors under real use: they fail fast and honestly, one rule says what is retried, a 429 is
langchain-core's rate-limit error, a missing route says so, odd bodies are shown, errors pickle
whole, and no credential reaches a message, a repr, a pickle or a log line.

Over httpx.MockTransport with a fake clock (nothing sleeps); the loopback twins of the
acceptance criteria are in tests/faults/test_fault_errors.py.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
import pickle
import pkgutil
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from langchain_core import exceptions as lc

import langchain_orbit_local
import langchain_orbit_local as lco
import llamaindex_orbit_local
import orbit_local
from orbit_local.backends.client import ChatClient
from orbit_local.facts import errors as ol
from orbit_local.facts.errors import ServerError
from orbit_local.facts.providers import get_provider
from orbit_local.facts.redact import redact, redact_url, register_secret
from orbit_local.facts.types import ChatRequest, HttpRequest, Message
from orbit_local.net.retry import DEFAULT_STARTUP_TIMEOUT, RetryPolicy
from orbit_local.net.transport import AsyncTransport, Transport
from orbit_local.protocols.errors import error_from_response
from orbit_local.protocols.openai import OpenAIProtocol
from tests.fakes import MODEL, FakeServer, answering, chunk, install_fake_clock, sse

BASE = "http://127.0.0.1:1234/v1"
CHAT = HttpRequest("POST", "/chat/completions", {"model": "m", "messages": []})
REQUEST = ChatRequest(model=MODEL, messages=[Message(role="user", content="hi")])
Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """A fake monotonic clock that only sleeping moves; the sleeps are recorded after it."""
    return install_fake_clock(monkeypatch)


def send(kind: str, handler: Handler, base: str = BASE, **kwargs: Any) -> Any:
    """One request through the sync or the async transport (default settings unless given)."""
    profile = get_provider("lmstudio")
    if kind == "sync":
        return Transport(
            profile, base, client=httpx.Client(transport=httpx.MockTransport(handler)), **kwargs
        ).request_json(CHAT)
    aio = AsyncTransport(profile, base, client=httpx.AsyncClient(transport=httpx.MockTransport(handler)), **kwargs)
    return asyncio.run(aio.request_json(CHAT))


TWINS = pytest.mark.parametrize("kind", ["sync", "async"])


# --- 1. fast, honest failure ----------------------------------------------------------------


@TWINS
def test_nothing_listening_is_reported_after_the_short_startup_window(kind: str, clock: list[float]) -> None:
    """With default settings a refused connection is retried for 2 s (a server restarting), not
    through the 30 s warm-up as before: ServerNotRunningError well within 5 s."""
    with pytest.raises(ol.ServerNotRunningError) as info:
        send(kind, answering(httpx.ConnectError("[Errno 111] Connection refused")))
    assert sum(clock[1:]) == pytest.approx(DEFAULT_STARTUP_TIMEOUT)
    assert sum(clock[1:]) < 5.0
    assert "startup_timeout" in (info.value.hint or "")


@TWINS
def test_a_server_that_answers_loading_is_still_waited_for_through_the_warmup(kind: str, clock: list[float]) -> None:
    loading = httpx.Response(
        503, json={"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}
    )
    with pytest.raises(ol.ServerBusyError):
        send(kind, answering(loading))
    assert sum(clock[1:]) == pytest.approx(30.0)


@TWINS
def test_startup_timeout_waits_for_a_server_being_started(kind: str, clock: list[float]) -> None:
    refused = httpx.ConnectError("[Errno 111] Connection refused")
    answer = send(kind, answering(*[refused] * 6, httpx.Response(200, json={"ok": 1})), startup_timeout=60.0)
    assert answer == {"ok": 1} and sum(clock[1:]) > DEFAULT_STARTUP_TIMEOUT


def test_the_policy_windows_are_computed_without_sleeping() -> None:
    now = [0.0]
    policy = RetryPolicy(clock=lambda: now[0])

    def total_wait(error: ol.OrbitLocalError) -> float:
        state, waited = policy.begin(), 0.0
        while (step := state.next_delay(error)) is not None:
            waited += step[0]
            now[0] += step[0]
        now[0] = 0.0
        return waited

    assert total_wait(ol.ServerNotRunningError("down")) == pytest.approx(2.0)
    assert total_wait(ol.ServerBusyError("loading")) == pytest.approx(30.0)
    assert total_wait(ol.RateLimitError("429")) == pytest.approx(5.0)
    assert total_wait(ol.BadRequestError("bad")) == 0.0


# --- 2. 429 ---------------------------------------------------------------------------------


def too_many(retry_after: str | None = None) -> httpx.Response:
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    return httpx.Response(429, headers=headers, json={"error": {"message": "Too many requests", "type": "rate_limit"}})


@TWINS
def test_a_429_is_a_rate_limit_error_retried_within_a_few_seconds(kind: str, clock: list[float]) -> None:
    seen: list[httpx.Request] = []
    with pytest.raises(ol.RateLimitError) as info:
        send(kind, answering(too_many(), seen=seen))
    assert sum(clock[1:]) == pytest.approx(5.0) and len(seen) == 5  # not 11 tries over 30 s
    assert info.value.status_code == 429 and info.value.is_retryable


@TWINS
def test_retry_after_within_the_budget_is_honoured(kind: str, clock: list[float]) -> None:
    assert send(kind, answering(too_many("2"), httpx.Response(200, json={"ok": 1}))) == {"ok": 1}
    assert clock[1:] == [2.0]


@TWINS
def test_retry_after_beyond_the_budget_is_raised_at_once_with_the_wait(kind: str, clock: list[float]) -> None:
    seen: list[httpx.Request] = []
    with pytest.raises(ol.RateLimitError) as info:
        send(kind, answering(too_many("60"), seen=seen))
    assert len(seen) == 1 and clock[1:] == []  # nothing slept
    assert info.value.retry_after == 60.0 and "60 s" in str(info.value)


def test_a_429_is_langchains_rate_limit_error_when_retries_run_out(clock: list[float]) -> None:
    server = FakeServer(chat=lambda _: too_many())
    chat = lco.ChatLlamaCpp(base_url=BASE, model="m", http_client=server.client())
    with pytest.raises(lc.ModelRateLimitError) as info:
        chat.invoke("hi")
    assert isinstance(info.value, ol.RateLimitError) and info.value.is_retryable
    with pytest.raises(lc.ModelRateLimitError):
        list(chat.stream("hi"))


# --- 3. one rule for what is retried ----------------------------------------------------------

FAILURES: list[tuple[str, Callable[[], httpx.Response | Exception]]] = [
    ("refused", lambda: httpx.ConnectError("[Errno 111] Connection refused")),
    ("connect-timeout", lambda: httpx.ConnectTimeout("timed out")),
    ("read-timeout", lambda: httpx.ReadTimeout("timed out")),
    ("dropped", lambda: httpx.RemoteProtocolError("Server disconnected without sending a response.")),
    ("reset", lambda: httpx.ReadError("[Errno 104] Connection reset by peer")),
    ("503", lambda: httpx.Response(503, json={"error": "Loading model"})),
    ("429", lambda: httpx.Response(429, json={"error": "too many requests"})),
    ("500", lambda: httpx.Response(500, json={"error": {"message": "boom"}})),
    ("400", lambda: httpx.Response(400, json={"error": {"message": "bad value"}})),
    ("401", lambda: httpx.Response(401, json={"error": "Unauthorized"})),
    ("404", lambda: httpx.Response(404, json={"detail": "Not Found"})),
    ("200-not-json", lambda: httpx.Response(200, text="<html>oops</html>")),
]


@pytest.mark.parametrize(("name", "failure"), FAILURES, ids=[name for name, _ in FAILURES])
@TWINS
def test_the_transport_retries_exactly_what_is_retryable(
    kind: str, name: str, failure: Callable[[], httpx.Response | Exception], clock: list[float]
) -> None:
    """The error's ``is_retryable`` and the retry policy give one verdict: an error is retried
    if and only if it says it is retryable."""
    seen: list[httpx.Request] = []
    with pytest.raises(ol.OrbitLocalError) as info:
        send(kind, answering(failure(), seen=seen))
    assert (len(seen) > 1) is info.value.is_retryable, (type(info.value).__name__, len(seen))


def test_a_dropped_connection_is_the_same_verdict_on_invoke_and_on_stream() -> None:
    dropped = httpx.RemoteProtocolError("peer closed connection without sending complete message body")
    invoke_server = FakeServer(queue=[dropped])
    with pytest.raises(ol.ProtocolError) as on_invoke:
        ChatClient("llamacpp", base_url=BASE, http_client=invoke_server.client(), max_retries=0).chat(REQUEST)

    class Cut(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield sse(chunk("Hel"), done=False)
            raise dropped

    stream_server = FakeServer(
        chat=lambda _: httpx.Response(200, stream=Cut(), headers={"content-type": "text/event-stream"})
    )
    with pytest.raises(ol.StreamInterruptedError) as on_stream:
        list(ChatClient("llamacpp", base_url=BASE, http_client=stream_server.client(), max_retries=0).stream(REQUEST))
    assert isinstance(on_invoke.value, ol.ConnectionDroppedError)
    assert on_invoke.value.is_retryable is on_stream.value.is_retryable is True


# --- 4. endpoint not found ----------------------------------------------------------------------


@TWINS
def test_a_missing_route_names_the_path_and_the_prefix_to_check(kind: str) -> None:
    """KoboldCpp answers an unknown POST path with 404 and an empty body; here the base URL
    lacks its /v1 prefix."""
    with pytest.raises(ol.EndpointNotFoundError) as info:
        send(kind, answering(httpx.Response(404, text="")), base="http://127.0.0.1:1234")
    error = info.value
    assert isinstance(error, ol.UnsupportedFeatureError) and isinstance(error, ol.BadRequestError)
    assert "POST /chat/completions" in error.message
    assert "'/v1'" in (error.hint or "") and "base_url" in (error.hint or "")


@pytest.mark.parametrize(
    ("provider", "status", "body"),
    [
        ("koboldcpp", 404, "Error: HTTP Server is running, but this endpoint does not exist. Please check the URL."),
        ("lemonade", 404, '{"error":{"message":"The requested endpoint does not exist","path":"/x","type":"not_found"}}'),
        ("llamacpp", 404, '{"error":{"message":"File Not Found","type":"not_found_error","code":404}}'),
        ("llama-cpp-python", 404, '{"detail":"Not Found"}'),
        ("localai", 404, '{"error":{"code":404,"message":"Resource not found"}}'),
        ("lemonade", 405, '{"error": "Method Not Allowed. Use POST for this endpoint"}'),
    ],
)  # fmt: skip
def test_route_not_found_bodies_real_servers_send(provider: str, status: int, body: str) -> None:
    """The bodies in cassettes/detect-* and ../shared/providers for a route a server lacks."""
    error = error_from_response(get_provider(provider), BASE, status, body, route="POST /v1/embeddings")
    assert type(error) is ol.EndpointNotFoundError
    assert "/v1/embeddings" in error.message


@pytest.mark.parametrize(
    ("provider", "body"),
    [
        ("lemonade", '{"error":{"code":"model_not_found","message":"Model \'x\' was not found.","type":"model_not_found"}}'),
        ("vllm", '{"object":"error","message":"The model `x` does not exist.","type":"NotFoundError","code":404}'),
        ("ollama", '{"error":{"message":"model \\"x\\" not found, try pulling it first","type":"not_found_error"}}'),
        ("localai", '{"error":{"code":404,"message":"model \\"x\\" not found. To see available models, call GET /v1/models"}}'),
    ],
)  # fmt: skip
def test_a_404_about_the_model_stays_model_not_found(provider: str, body: str) -> None:
    error = error_from_response(get_provider(provider), BASE, 404, body, route="POST /v1/chat/completions")
    assert type(error) is ol.ModelNotFoundError


def test_lm_studios_no_models_loaded_is_not_loaded_and_still_a_model_not_found() -> None:
    body = '{"error":"No models loaded. Please load a model in the developer page."}'
    error = error_from_response(get_provider("lmstudio"), BASE, 404, body, route="POST /v1/chat/completions")
    assert type(error) is ol.ModelNotLoadedError
    assert isinstance(error, ol.ModelNotFoundError)


def test_lm_studios_unexpected_endpoint_in_a_200_is_endpoint_not_found() -> None:
    with pytest.raises(ol.EndpointNotFoundError):
        OpenAIProtocol(get_provider("lmstudio"), BASE).parse_models(
            {"error": "Unexpected endpoint or method. (GET /v1/nope)"}
        )


# --- 6. every public error pickles with every attribute -----------------------------------------


def _public_error_classes() -> list[type[BaseException]]:
    """Every exception class defined in a module of the three packages (walked, not listed, so a
    new class cannot be forgotten)."""
    found: dict[str, type[BaseException]] = {}
    for package in (orbit_local, langchain_orbit_local, llamaindex_orbit_local):
        for module_info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if module_info.name.endswith("__main__"):
                continue
            module = importlib.import_module(module_info.name)
            for name, value in vars(module).items():
                if (
                    isinstance(value, type)
                    and issubclass(value, BaseException)
                    and value.__module__ == module.__name__
                    and not name.startswith("_")
                ):
                    found[f"{value.__module__}.{name}"] = value
    return [found[key] for key in sorted(found)]


ERROR_CLASSES = _public_error_classes()
FIELDS: dict[str, Any] = {
    "provider": "KoboldCpp",
    "base_url": "http://127.0.0.1:5001/v1",
    "status_code": 429,
    "server_message": "Server is busy",
    "hint": "retry later",
    "body": '{"detail": {"msg": "Server is busy"}}',
    "method": "POST",
    "url": "http://127.0.0.1:5001/v1/chat/completions",
}
EXTRA: dict[str, Any] = {"partial_text": "Hel", "retry_after": 7.5}


def _instance(cls: type[BaseException]) -> BaseException:
    if not issubclass(cls, ol.OrbitLocalError):
        # Helper errors (the YAML and SSE bounds) take their own positional fields: one value of
        # the annotated type for each, so a field their pickling forgets shows up as a difference.
        samples = {"int": 7, "str": "boom"}
        required = [
            p
            for p in inspect.signature(cls.__init__).parameters.values()
            if p.name != "self" and p.default is inspect.Parameter.empty and p.kind is p.POSITIONAL_OR_KEYWORD
        ]
        return cls(*([samples.get(str(p.annotation), "boom") for p in required] or ["boom"]))
    accepted = {
        name
        for klass in cls.__mro__
        if "__init__" in vars(klass)
        for name in inspect.signature(vars(klass)["__init__"]).parameters
    }
    extra = {name: value for name, value in EXTRA.items() if name in accepted}
    error = cls("boom", **FIELDS, **extra)
    error.add_hint("found later")
    return error


def test_the_walk_finds_every_error_family() -> None:
    names = {cls.__qualname__ for cls in ERROR_CLASSES}
    assert {"StreamInterruptedError", "RateLimitError", "EndpointNotFoundError", "ConfigError"} <= names
    assert lco.errors.RateLimitError in ERROR_CLASSES


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=[f"{c.__module__}.{c.__qualname__}" for c in ERROR_CLASSES])
def test_every_public_error_survives_pickle_with_every_attribute(cls: type[BaseException]) -> None:
    error = _instance(cls)
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is cls
    assert str(clone) == str(error) and repr(clone) == repr(error) and clone.args == error.args
    assert vars(clone) == vars(error)
    if isinstance(error, ol.OrbitLocalError):
        assert vars(error).keys() >= FIELDS.keys() | {"message"}
        assert clone.is_retryable is error.is_retryable


# --- 7. no secret in any error or log line --------------------------------------------------------

SECRET_KEY = "sk-orbit-secret-key-123"
URL_PASSWORD = "url-pass-987"
CREDENTIALED = f"http://alice:{URL_PASSWORD}@127.0.0.1:1234/v1"


def _assert_nothing_secret(error: BaseException, records: list[logging.LogRecord]) -> None:
    texts = [str(error), repr(error), repr(vars(error)), pickle.dumps(error).decode("latin-1")]
    texts += [record.getMessage() for record in records]
    for text in texts:
        for secret in (SECRET_KEY, URL_PASSWORD, "alice:"):
            assert secret not in text, (secret, text)


@pytest.mark.parametrize(
    "answer",
    [
        httpx.ConnectError("[Errno 111] Connection refused"),
        httpx.Response(404, text=""),
        httpx.Response(503, json={"error": "Loading model"}),
        httpx.Response(401, json={"error": {"message": f"Incorrect API key provided: {SECRET_KEY}"}}),
        httpx.Response(200, text="not json"),
    ],
    ids=["refused", "404", "busy", "key-echoed", "not-json"],
)
def test_credentials_reach_no_error_and_no_log_line(
    answer: httpx.Response | Exception, clock: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="orbit_local")
    handler = answering(answer)
    chat = lco.ChatLlamaCpp(
        base_url=CREDENTIALED,
        api_key=SECRET_KEY,
        model="m",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    with pytest.raises(ol.OrbitLocalError) as info:
        chat.invoke("hi")
    error = info.value
    assert "127.0.0.1:1234" in str(error)  # the URL is still named, without its credentials
    assert error.base_url == "http://***@127.0.0.1:1234/v1"
    _assert_nothing_secret(error, caplog.records)


def test_requests_from_the_root_keep_the_base_urls_credentials() -> None:
    """httpx turns a URL's userinfo into basic auth; a request to the server's root (here
    llama.cpp's /props) must send it as the /v1 requests do, and print it as no error does."""
    seen: list[httpx.Request] = []
    transport = Transport(
        get_provider("llamacpp"),
        CREDENTIALED,
        client=httpx.Client(transport=httpx.MockTransport(answering(httpx.Response(200, json={}), seen=seen))),
    )
    transport.request_json(HttpRequest("GET", "/props", from_root=True))
    transport.request_json(HttpRequest("GET", "/models"))
    assert [r.url.path for r in seen] == ["/props", "/v1/models"]
    assert seen[0].headers["authorization"] == seen[1].headers["authorization"]
    assert seen[0].headers["authorization"].startswith("Basic ")


def test_redact_masks_every_kind_of_secret() -> None:
    assert redact_url("http://user:key@host:1234/v1") == "http://***@host:1234/v1"
    assert redact_url("http://u:p@ss@host/v1") == "http://***@host/v1"
    assert redact_url("http://host/v1?api_key=abc&x=1") == "http://host/v1?api_key=***&x=1"
    assert redact_url("http://host/v1?token=abc") == "http://host/v1?token=***"
    assert redact("Authorization: Bearer sk-abcdef") == "Authorization: Bearer ***"
    assert redact("headers={'Authorization': 'Basic dXNlcjpwYXNz'}") == "headers={'Authorization': 'Basic ***'}"
    assert redact("Invalid bearer token") == "Invalid bearer token"  # the server's words, no key
    assert redact("http://localhost:1234/v1 — pass api_key=... or set LMSTUDIO_API_KEY") == (
        "http://localhost:1234/v1 — pass api_key=... or set LMSTUDIO_API_KEY"
    )


def test_an_error_built_or_changed_anywhere_is_redacted() -> None:
    error = ol.ServerError("at http://u:pw-123@h/v1", base_url="http://u:pw-123@h/v1", hint="see http://u:pw-123@h")
    error.url = "http://u:pw-123@h/v1/chat/completions?key=abc"  # as the transport fills it in later
    error.add_hint("or http://u:pw-123@h/other")
    assert "pw-123" not in repr(vars(error)) + str(error) + repr(error)
    assert error.url == "http://***@h/v1/chat/completions?key=***"


def test_log_lines_are_redacted_whatever_the_call_site(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="orbit_local")
    orbit_local.facts.log.logger.info("talking to %s", "http://bob:hunter22@127.0.0.1:9/v1")
    assert [r.getMessage() for r in caplog.records] == ["talking to http://***@127.0.0.1:9/v1"]


def test_warnings_are_redacted_as_log_lines_are() -> None:
    with pytest.warns(UserWarning) as caught:
        orbit_local.facts.log.warn("GPT4All at http://bob:hunter22@127.0.0.1:4891/v1 cannot stream")
    assert str(caught[0].message) == "GPT4All at http://***@127.0.0.1:4891/v1 cannot stream"


def test_log_of_a_retry_to_a_credentialed_url_is_redacted(clock: list[float], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="orbit_local")
    loading = httpx.Response(503, json={"error": "Loading model"})
    assert send("sync", answering(loading, httpx.Response(200, json={})), base=CREDENTIALED) == {}
    assert caplog.records and all(URL_PASSWORD not in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "cls",
    [lco.ChatLMStudio, lco.LMStudioEmbeddings, llamaindex_orbit_local.LMStudio, llamaindex_orbit_local.LMStudioEmbedding],
    ids=lambda cls: cls.__name__,
)
def test_a_models_repr_masks_the_base_urls_credentials(cls: Any) -> None:
    """A model's ``repr``/``str`` lands in logs and tracebacks as an error does; the URL it
    talks to keeps its credentials (they are needed to connect)."""
    url = "http://alice:hunter2@127.0.0.1:1234/v1"
    model = cls(base_url=url, model="m")
    assert "hunter2" not in repr(model) and "hunter2" not in str(model)
    assert "127.0.0.1:1234/v1" in repr(model)
    assert model.base_url == url


# Keys are masked however they are echoed: percent-encoded, or found by detection and echoed
# back by the server. Registered secrets are masked whole even when one holds another
# (orbit_local/facts/redact.py: "longest first: no half-masked key"): two keys in one process (two
# models, an old key and its replacement) can overlap, ``old-team-key-1234`` holds
# ``team-key-1234``, and masking the shorter first would leave ``old-***``, part of the longer key
# and a hint at which key it was.


def test_a_registered_key_is_masked_in_its_url_encoded_form_too() -> None:
    """A server that echoes the request URL prints a key percent-encoded (every reserved
    character, ``/`` included, as in a query value)."""
    key = "sk/live+key=42"
    register_secret(key)
    echoed = f"GET /v1/models/{quote(key, safe='')} failed"
    error = ol.OrbitLocalError(echoed, provider="x", base_url="http://h/v1")
    assert quote(key, safe="") not in str(error)
    assert "***" in error.message


def test_a_key_found_by_retargeting_is_masked_in_the_servers_echo() -> None:
    """Auto-detection hands the transport the key it found (``retarget``); a 401 that echoes
    it (as OpenAI-style servers do: "Incorrect API key provided: ...") must not print it."""
    key = "sk-found-by-detection-77"

    def handle(request: httpx.Request) -> httpx.Response:
        sent = request.headers.get("authorization", "").removeprefix("Bearer ")
        return httpx.Response(401, json={"error": {"message": f"Incorrect API key provided: {sent}"}})

    transport = Transport(
        get_provider("openai-compatible"),
        "http://127.0.0.1:9000/v1",
        client=httpx.Client(transport=httpx.MockTransport(handle)),
        max_retries=0,
    )
    transport.retarget(get_provider("localai"), "http://127.0.0.1:9000/v1", key)
    with pytest.raises(ol.AuthenticationError) as info:
        transport.request_json(HttpRequest("GET", "/models"))
    texts = [str(info.value), repr(info.value), info.value.server_message or "", info.value.body or ""]
    assert all(key not in text for text in texts)


def test_a_key_that_holds_another_registered_key_is_masked_whole() -> None:
    register_secret("team-key-1234")
    register_secret("old-team-key-1234")
    assert redact("the server said: unknown key old-team-key-1234") == "the server said: unknown key ***"
    assert redact("keys team-key-1234 and old-team-key-1234") == "keys *** and ***"


def test_an_error_echoing_the_longer_key_shows_none_of_it() -> None:
    register_secret("team-key-1234")
    register_secret("old-team-key-1234")
    error = ServerError("invalid api key 'old-team-key-1234'", server_message="old-team-key-1234 is revoked")
    assert "team-key" not in str(error) and "old-" not in str(error)
    assert error.server_message == "*** is revoked"


def test_keys_as_short_as_the_minimum_are_masked_and_shorter_ones_are_not() -> None:
    """``_MIN_SECRET``: "Shorter values are not registered" — masking "x" everywhere would
    garble every message; a key of the minimum length is still a key."""
    from orbit_local.facts.redact import _MIN_SECRET

    key = "k" * _MIN_SECRET
    register_secret(key)
    assert redact(f"bad key {key}") == "bad key ***"
    shorter = "q" * (_MIN_SECRET - 1)
    register_secret(shorter)
    assert redact(f"bad key {shorter}") == f"bad key {shorter}"


def test_a_models_repr_masks_the_base_url_only_not_a_field_that_equals_the_key() -> None:
    """Ollama's docs give the OpenAI SDK the dummy key ``"ollama"`` (providers/ollama.md), so
    ``provider="ollama", api_key="ollama"`` is common; once that key is sent (and registered),
    the repr must still name the provider. Only ``base_url`` goes through URL masking."""
    from orbit_local.features.settings import ConnectionSettings

    register_secret("ollama")
    settings = ConnectionSettings(
        provider="ollama", api_key="ollama", model="llama3.2:1b", base_url="http://user:pw@localhost:11434/v1"
    )
    shown = repr(settings)
    assert "provider='ollama'" in shown and "model='llama3.2:1b'" in shown
    assert "base_url='http://***@localhost:11434/v1'" in shown


def test_credential_headers_given_to_a_client_are_masked_and_other_headers_are_not() -> None:
    """``X-Api-Key`` (and Authorization, Cookie, ...) values are credentials: a server that
    echoes one back must not put it in an error or a log line. A trace id is not a secret."""
    from orbit_local.facts.providers import get_provider
    from orbit_local.net.transport import Transport

    Transport(
        get_provider("openai-compatible"),
        "http://127.0.0.1:9000/v1",
        headers={"X-Api-Key": "hdr-secret-123", "X-Trace-Id": "trace-visible-1"},
    )
    assert redact("rejected key hdr-secret-123") == "rejected key ***"
    assert redact("trace trace-visible-1") == "trace trace-visible-1"

"""Step 9 strength tests: the seams that the mutation run showed unpinned in the transport's
neighbours — closing an adapter's streams (stream_scope, AsyncChatStream, LoopFinalizer),
masking keys (redact, a retargeted transport), the hint of a missing route, and the base URL
that detection settles on.

Nothing here sleeps or opens a socket: streams are fakes, servers are httpx.MockTransport.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from urllib.parse import quote

import httpx
import pytest

from orbit_local import errors as ol
from orbit_local.chat_stream import AsyncChatStream
from orbit_local.fingerprint import base_url_for
from orbit_local.loops import LoopFinalizer
from orbit_local.protocols.errors import error_from_response, error_in_payload
from orbit_local.providers import get_provider
from orbit_local.redact import register_secret
from orbit_local.stream_scope import closing_streams, track
from orbit_local.transport import Transport
from orbit_local.types import ChatDelta, HttpRequest

# --- stream_scope: what an adapter's stream opened is closed with it ---------------------------


class Closable:
    def __init__(self, log: list[str], name: str) -> None:
        self.log, self.name = log, name

    async def aclose(self) -> None:
        self.log.append(f"closed {self.name}")


def test_streams_opened_inside_a_scope_are_closed_when_the_caller_closes_it_early() -> None:
    """LangChain's ``astream`` drops our generator on ``aclose()``; the scope closes what it
    opened (the HTTP stream) and the framework's generator itself before ``aclose()`` returns."""
    log: list[str] = []

    async def framework() -> AsyncGenerator[str, None]:  # stands in for BaseChatModel.astream
        try:
            track(Closable(log, "first"))  # opened while the scope steps this generator
            yield "a"
            track(Closable(log, "second"))
            yield "b"
            yield "never read"
        finally:
            log.append("framework ended")

    async def run() -> list[str]:
        outer = closing_streams(framework())
        got = [await outer.__anext__(), await outer.__anext__()]
        await outer.aclose()
        return got

    assert asyncio.run(run()) == ["a", "b"]
    # the framework's generator first, then every stream it opened, the last opened first
    assert log == ["framework ended", "closed second", "closed first"]


def test_a_stream_opened_outside_any_scope_is_not_recorded_anywhere() -> None:
    log: list[str] = []

    async def framework() -> AsyncGenerator[str, None]:
        yield "a"

    async def run() -> None:
        track(Closable(log, "outside"))  # no scope: nothing to record it in, and no error
        async for _ in closing_streams(framework()):
            pass

    asyncio.run(run())
    assert log == []


def test_an_inner_iterator_without_aclose_ends_cleanly() -> None:
    """``closing_streams`` wraps whatever the framework returns: an async iterator need not be
    a generator (LlamaIndex hands back its own objects)."""

    class Plain:
        def __init__(self) -> None:
            self.items = ["x", "y"]

        def __aiter__(self) -> Plain:
            return self

        async def __anext__(self) -> str:
            if not self.items:
                raise StopAsyncIteration
            return self.items.pop(0)

    async def run() -> list[str]:
        inner: AsyncIterator[str] = Plain()
        return [item async for item in closing_streams(inner)]

    assert asyncio.run(run()) == ["x", "y"]


# --- AsyncChatStream.aclose: closes the connection, once ----------------------------------------


def _deltas(log: list[str], release: asyncio.Event | None = None) -> AsyncGenerator[ChatDelta, None]:
    async def gen() -> AsyncGenerator[ChatDelta, None]:
        try:
            yield ChatDelta(text="Hel")
            yield ChatDelta(text="lo")
        finally:
            if release is not None:
                await release.wait()  # closing the HTTP response takes a moment
            log.append("response closed")

    return gen()


def test_aclose_on_a_fresh_stream_closes_its_response() -> None:
    log: list[str] = []

    async def run() -> None:
        stream = AsyncChatStream(_deltas(log), "m")
        assert (await stream.__anext__()).text == "Hel"
        await stream.aclose()
        assert log == ["response closed"]  # now, not when the loop ends

    asyncio.run(run())


def test_a_second_aclose_while_the_first_is_still_closing_returns_at_once() -> None:
    """The event loop's own finaliser may close the stream again while our close still awaits
    the connection; that second call must not touch the running generator."""
    log: list[str] = []

    async def run() -> None:
        release = asyncio.Event()
        stream = AsyncChatStream(_deltas(log, release), "m")
        await stream.__anext__()
        first = asyncio.create_task(stream.aclose())
        await asyncio.sleep(0)  # the first close is now waiting inside the generator
        await stream.aclose()  # raised "asynchronous generator is already running" before
        release.set()
        await first
        assert log == ["response closed"]

    asyncio.run(run())


# --- LoopFinalizer.forget -----------------------------------------------------------------------


def test_forget_while_a_close_is_under_way_is_harmless() -> None:
    """``close_soon`` from another thread may find the loop closing the resource already; the
    generator is then running, and ``forget()`` must leave it to finish."""
    closed: list[str] = []

    async def run() -> None:
        release = asyncio.Event()

        async def close() -> None:
            await release.wait()
            closed.append("closed")

        finalizer = LoopFinalizer(close)
        closing = asyncio.create_task(finalizer.aclose())
        await asyncio.sleep(0)  # suspended inside close()
        finalizer.forget()
        release.set()
        await closing

    asyncio.run(run())
    assert closed == ["closed"]


# --- keys are masked however they are echoed ----------------------------------------------------


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


# --- the hint of a missing route --------------------------------------------------------------


def _not_found(provider: str, base: str) -> ol.OrbitLocalError:
    return error_from_response(get_provider(provider), base, 404, "", route="POST /v1/embeddings")


def test_a_base_url_with_a_trailing_slash_has_the_right_prefix() -> None:
    """``http://host:1234/v1/`` is LM Studio's prefix: the hint must not send the user to fix
    the base URL, but to the server's feature."""
    for base in ("http://127.0.0.1:1234/v1/", "http://127.0.0.1:1234/v1"):
        hint = _not_found("lmstudio", base).hint or ""
        assert "try base_url" not in hint, base
        assert "looks right" in hint


def test_a_base_url_without_a_path_is_named_as_the_root() -> None:
    hint = _not_found("lmstudio", "http://127.0.0.1:1234").hint or ""
    assert "'/v1'" in hint and "'/'" in hint  # the prefix it needs, and the path it has


def test_a_server_without_a_known_prefix_is_not_sent_to_one() -> None:
    """``openai-compatible`` knows no default URL: there is no prefix to suggest."""
    hint = _not_found("openai-compatible", "http://127.0.0.1:9000/api").hint or ""
    assert "try base_url" not in hint and "''" not in hint


def test_an_endpoint_error_inside_a_200_body_judges_the_callers_base_url() -> None:
    """LM Studio answers an unknown route with 200 and ``{"error": "Unexpected endpoint..."}``;
    at the right base URL the hint must not blame it."""
    error = error_in_payload(
        get_provider("lmstudio"), "http://127.0.0.1:1234/v1", {"error": "Unexpected endpoint or method. (GET /v1/x)"}
    )
    assert isinstance(error, ol.EndpointNotFoundError)
    assert "try base_url" not in (error.hint or "")


# --- the base URL detection settles on ----------------------------------------------------------


def test_a_url_without_a_scheme_but_with_a_path_gets_http() -> None:
    """``127.0.0.1:8000/v1`` (as users type it) keeps its path and gains the scheme httpx needs."""
    assert base_url_for(get_provider("vllm"), "127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
    assert base_url_for(get_provider("vllm"), "box:8000/v1/") == "http://box:8000/v1"


def test_a_missing_route_without_a_route_name_still_reads_as_a_sentence() -> None:
    """``error_from_response`` may be called without ``route`` (hint probes, internal callers):
    the message must not print ``None``, an empty method, or empty brackets for an empty body."""
    profile = get_provider("lmstudio")
    for status in (404, 405):
        message = error_from_response(profile, "http://127.0.0.1:1234/v1", status, "").message
        assert "None" not in message and "  " not in message and " on " not in message, message
        assert "()" not in message, message
    with_route = error_from_response(profile, "http://127.0.0.1:1234/v1", 404, "", route="POST /v1/embeddings")
    assert "POST /v1/embeddings" in with_route.message and "()" not in with_route.message
    assert with_route.message.endswith("/v1/embeddings")  # an empty body adds nothing after the route


def test_retry_after_as_an_http_date_without_a_zone_is_read_as_utc() -> None:
    """RFC 5322's ``-0000`` (no zone known) parses to a naive datetime; it is taken as UTC, not
    an error. The date is long past, so no wait is asked for."""
    from orbit_local.transport import _retry_after

    response = httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 -0000"})
    assert _retry_after(response) == 0.0
    assert _retry_after(httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0


def test_an_html_404_page_is_a_missing_route() -> None:
    """Python's http.server (and many proxies) answer an unknown path with an HTML error page."""
    page = (
        '<!DOCTYPE HTML>\n<html lang="en">\n    <head>\n        <meta charset="utf-8">\n'
        "        <title>Error response</title>\n    </head>\n    <body>\n        <h1>Error response</h1>\n"
        "        <p>Error code: 404</p>\n        <p>Message: File not found.</p>\n    </body>\n</html>\n"
    )
    error = error_from_response(get_provider("lmstudio"), "http://127.0.0.1:1234/v1", 404, page, route="GET /v1/x")
    assert type(error) is ol.EndpointNotFoundError


def test_a_busy_error_keeps_the_servers_words_and_adds_the_wait() -> None:
    """llama.cpp while loading (providers/llamacpp.md), with a Retry-After of 3 s."""
    body = '{"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}'
    error = error_from_response(get_provider("llamacpp"), "http://127.0.0.1:8080/v1", 503, body, retry_after=3.0)
    assert isinstance(error, ol.ServerBusyError) and error.retry_after == 3.0
    assert "Loading model" in error.message and "3 s" in error.message


@pytest.mark.parametrize("detail", ["407 Proxy Authentication Required", ""])
def test_any_other_transport_failure_is_a_protocol_error_naming_it_and_the_url(detail: str) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.ProxyError(detail, request=request)

    transport = Transport(
        get_provider("lmstudio"),
        "http://127.0.0.1:1234/v1",
        client=httpx.Client(transport=httpx.MockTransport(handle)),
        max_retries=0,
    )
    with pytest.raises(ol.ProtocolError) as info:
        transport.request_json(HttpRequest("GET", "/models"))
    error = info.value
    assert error.provider == "LM Studio" and error.base_url == "http://127.0.0.1:1234/v1"
    assert "ProxyError" in error.message and "http://127.0.0.1:1234/v1/models" in error.message
    if detail:
        assert detail in error.message
    else:
        assert error.message.endswith("/v1/models")  # no dangling separator

"""LangChain code catches our errors as its own (``except ModelError``), in every call path,
and every error keeps the request and the server's answer."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from langchain_core import exceptions as lc

import langchain_orbit_local as lco
from orbit_local.facts import errors as ol
from tests.fakes import FakeServer, chunk, sse

BASE = "http://127.0.0.1:5999/v1"


def refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("[Errno 111] Connection refused", request=request)


def model(server: FakeServer | None = None, **kwargs: Any) -> lco.ChatLlamaCpp:
    if server is None:
        client = httpx.Client(transport=httpx.MockTransport(refused))
        aclient = httpx.AsyncClient(transport=httpx.MockTransport(refused))
    else:
        client, aclient = server.client(), server.async_client()
    return lco.ChatLlamaCpp(base_url=BASE, model="m", http_client=client, http_async_client=aclient, **kwargs)


def fails_with(status: int, body: dict[str, Any]) -> FakeServer:
    return FakeServer(chat=lambda _: httpx.Response(status, json=body))


CASES = [
    (None, lc.ModelConnectionError, ol.ServerNotRunningError, True),
    (fails_with(400, {"error": {"message": "bad value"}}), lc.ModelInvalidRequestError, ol.BadRequestError, False),
    (fails_with(400, {"error": {"message": "x", "type": "exceed_context_size_error"}}), lc.ContextOverflowError,
     ol.ContextOverflowError, False),
    (fails_with(404, {"error": {"message": "model 'm' not found", "type": "model_not_found"}}), lc.ModelNotFoundError,
     ol.ModelNotFoundError, False),
    (fails_with(500, {"error": {"message": "boom"}}), lc.ModelAPIError, ol.ServerError, False),
    (fails_with(429, {"error": "too many requests"}), lc.ModelRateLimitError, ol.RateLimitError, True),
    (fails_with(404, {"detail": "Not Found"}), lc.ModelInvalidRequestError, ol.EndpointNotFoundError, False),
    (fails_with(401, {"error": {"message": "Invalid API Key"}}), lc.ModelAuthenticationError,
     ol.AuthenticationError, False),
]  # fmt: skip


@pytest.mark.parametrize(("server", "native", "ours", "retryable"), CASES)
@pytest.mark.parametrize("path", ["invoke", "ainvoke", "stream", "astream"])
def test_model_error_catches_every_path(
    server: FakeServer | None, native: type, ours: type, retryable: bool, path: str
) -> None:
    chat = model(server, max_retries=0)
    with pytest.raises(lc.ModelError) as info:
        if path == "invoke":
            chat.invoke("hi")
        elif path == "ainvoke":
            asyncio.run(chat.ainvoke("hi"))
        elif path == "stream":
            list(chat.stream("hi"))
        else:

            async def drain() -> None:
                async for _ in chat.astream("hi"):
                    pass

            asyncio.run(drain())
    error = info.value
    assert isinstance(error, native) and isinstance(error, ours)
    assert error.is_retryable is retryable
    assert error.method == "POST" and error.url == f"{BASE}/chat/completions"
    if server is not None:
        assert error.status_code is not None and error.body


def test_a_cut_stream_is_a_model_api_error_that_keeps_the_partial_text() -> None:
    cut = sse(chunk("Hel"), chunk("lo"), done=False)
    server = FakeServer(chat=lambda _: httpx.Response(200, content=cut, headers={"content-type": "text/event-stream"}))
    with pytest.raises(lc.ModelAPIError) as info:
        list(model(server).stream("hi"))
    assert isinstance(info.value, ol.StreamInterruptedError)
    assert info.value.partial_text == "Hello" and info.value.is_retryable


def test_the_hierarchy_is_the_documented_one() -> None:
    """docs/errors.md: a context overflow is a bad request; a stalled stream is both a cut
    stream and a timeout; a missing endpoint is both unsupported and (as before) a bad request;
    busy, rate-limited, down, dropped, timed-out and cut are worth retrying, the rest not (a
    500 from a local server fails the same way again)."""
    assert issubclass(ol.ContextOverflowError, ol.BadRequestError)
    assert issubclass(ol.StreamTimeoutError, ol.StreamInterruptedError)
    assert issubclass(ol.StreamTimeoutError, ol.RequestTimeoutError)
    assert issubclass(ol.EndpointNotFoundError, ol.UnsupportedFeatureError)
    assert issubclass(ol.EndpointNotFoundError, ol.BadRequestError)
    assert issubclass(ol.RateLimitError, ol.ServerBusyError)
    retryable = {c.__name__ for c in vars(ol).values() if isinstance(c, type) and issubclass(c, ol.OrbitLocalError) and c.is_retryable}
    assert retryable == {
        "ServerNotRunningError", "RequestTimeoutError", "ServerBusyError", "RateLimitError", "ConnectionDroppedError",
        "StreamInterruptedError", "StreamTimeoutError",
    }  # fmt: skip


def test_embeddings_errors_are_native_too() -> None:
    embeddings = lco.LlamaCppEmbeddings(
        base_url=BASE, model="e", http_client=httpx.Client(transport=httpx.MockTransport(refused)), max_retries=0
    )
    with pytest.raises(lc.ModelConnectionError):
        embeddings.embed_query("hi")

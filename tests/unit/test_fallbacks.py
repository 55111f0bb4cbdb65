"""LangChain ``with_fallbacks`` across two local servers (docs/scale-out.md).

Our typed errors are what a fallback chain filters on: a server that is down raises
``ServerNotRunningError`` (after its warm-up retries), and only the errors named in
``exceptions_to_handle`` move on to the next server.
"""

from __future__ import annotations

import httpx
import pytest

from langchain_orbit_local import ChatLlamaCpp, ChatLMStudio
from orbit_local.facts.errors import BadRequestError, ServerNotRunningError
from tests.fakes import FakeServer


def _down() -> httpx.Client:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    return httpx.Client(transport=httpx.MockTransport(refuse))


def test_a_server_that_is_down_falls_back_to_the_next() -> None:
    backup = FakeServer()
    primary = ChatLMStudio(base_url="http://127.0.0.1:1234/v1", model="m", http_client=_down(), max_retries=0)
    secondary = ChatLlamaCpp(base_url="http://127.0.0.1:8080/v1", model="m", http_client=backup.client())
    chain = primary.with_fallbacks([secondary], exceptions_to_handle=(ServerNotRunningError,))
    message = chain.invoke("hi")
    assert message.text == "Hello there."
    assert message.response_metadata["model_provider"] == "llamacpp"
    assert [r.url.port for r in backup.requests] == [8080]


def test_errors_not_named_are_not_swallowed() -> None:
    rejecting = FakeServer(chat=lambda body: httpx.Response(400, json={"error": {"message": "bad field"}}))
    backup = FakeServer()
    primary = ChatLMStudio(base_url="http://127.0.0.1:1234/v1", model="m", http_client=rejecting.client())
    secondary = ChatLlamaCpp(base_url="http://127.0.0.1:8080/v1", model="m", http_client=backup.client())
    chain = primary.with_fallbacks([secondary], exceptions_to_handle=(ServerNotRunningError,))
    with pytest.raises(BadRequestError, match="bad field"):
        chain.invoke("hi")
    assert not [r for r in backup.requests if r.url.path.endswith("/chat/completions")]

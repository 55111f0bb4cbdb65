"""What an auto-detecting model says it talks to: "auto" until detection ran, then the server
detection found — never the generic profile's name as a guess — while LangChain's cache key
(``_llm_type`` and ``_identifying_params``) stays the same across the first call.

The server is llama-cpp-python's shape: its model list says ``owned_by: "me"`` (REAL_SERVERS.md,
cassettes/detect-llama-cpp-python); every other probe route answers 404.
"""

from __future__ import annotations

from typing import Any

import httpx
from langchain_core.callbacks import BaseCallbackHandler

from langchain_orbit_local import ChatLlamaCpp, ChatOrbitLocal
from orbit_local.net.discovery import forget
from tests.fakes import completion

BASE = "http://127.0.0.1:9311/v1"


def llama_cpp_python(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if path.endswith("/models"):
        return httpx.Response(200, json={"object": "list", "data": [{"id": "m", "object": "model", "owned_by": "me"}]})
    if request.method == "POST" and path.endswith("/chat/completions"):
        return httpx.Response(200, json=completion("hi"))
    return httpx.Response(404, json={"detail": "Not Found"})


class Metadata(BaseCallbackHandler):
    """The ``ls_provider`` LangChain hands to tracers at the start of each call."""

    def __init__(self) -> None:
        self.providers: list[str] = []

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self.providers.append(kwargs["metadata"]["ls_provider"])


def test_first_call_says_auto_then_the_detected_server_and_the_cache_key_holds() -> None:
    forget()
    chat = ChatOrbitLocal(
        provider="auto",
        base_url=BASE,
        model="m",
        http_client=httpx.Client(transport=httpx.MockTransport(llama_cpp_python)),
    )
    key_before = (chat._llm_type, chat._identifying_params)
    traced = Metadata()
    assert chat._get_ls_params()["ls_provider"] == "auto"
    first = chat.invoke("hi", config={"callbacks": [traced]})
    chat.invoke("again", config={"callbacks": [traced]})
    assert traced.providers == ["auto", "llama-cpp-python"]  # never "openai-compatible"
    assert first.response_metadata["model_provider"] == "llama-cpp-python"
    assert (chat._llm_type, chat._identifying_params) == key_before
    assert key_before[0] == "orbit-local-auto" and key_before[1]["provider"] == "auto"
    forget()


def test_a_named_provider_is_named_from_the_start() -> None:
    chat = ChatLlamaCpp(base_url=BASE)
    assert chat._get_ls_params()["ls_provider"] == "llamacpp"
    assert chat._llm_type == "orbit-local-llamacpp" and chat._identifying_params["provider"] == "llamacpp"

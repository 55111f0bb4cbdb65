"""The context window is the server's where it tells it, else reported as unknown (LangChain)
or as a default labelled as such (LlamaIndex): never a guess presented as the server's."""

from __future__ import annotations

import httpx
import pytest
from llama_index.core.constants import DEFAULT_CONTEXT_WINDOW

import langchain_orbit_local as lc
import llamaindex_orbit_local as li
from tests.fakes import FakeServer


def no_props_server() -> FakeServer:
    """A llama.cpp build whose /props is missing (404): it cannot tell its context."""
    server = FakeServer()
    plain = server.handler

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/props":
            server.requests.append(request)
            return httpx.Response(404, text="")
        return plain(request)

    server.handler = handler  # type: ignore[method-assign]
    return server


# ------------------------------------------------------------------ LlamaIndex
def test_llamaindex_reads_the_server_window() -> None:
    server = FakeServer()  # /props answers default_generation_settings.n_ctx = 8192
    meta = li.LlamaCpp(base_url="http://h:8080/v1", model="m", http_client=server.client()).metadata
    assert (meta.context_window, meta.context_window_source) == (8192, "server")


def test_llamaindex_unknown_window_is_labelled_not_the_servers() -> None:
    server = no_props_server()
    meta = li.LlamaCpp(base_url="http://h:8080/v1", model="m", http_client=server.client()).metadata
    assert (meta.context_window, meta.context_window_source) == (DEFAULT_CONTEXT_WINDOW, "default")


def test_llamaindex_server_without_an_endpoint_plans_with_its_documented_default() -> None:
    # llama-cpp-python reports no n_ctx; its server starts with n_ctx=2048 (smaller than
    # LlamaIndex's 3900, so that is what is planned with), labelled as not read.
    server = FakeServer()
    meta = li.OrbitLocal(provider="llama-cpp-python", base_url="http://h:8000/v1", http_client=server.client()).metadata
    assert (meta.context_window, meta.context_window_source) == (2048, "default")
    assert server.requests == []


def test_llamaindex_argument_wins() -> None:
    meta = li.LlamaCpp(base_url="http://h:8080/v1", model="m", context_window=1000).metadata
    assert (meta.context_window, meta.context_window_source) == (1000, "argument")


def test_llamaindex_metadata_names_the_resolved_model() -> None:
    server = FakeServer(models=[{"id": "served", "object": "model"}])
    llm = li.LMStudio(base_url="http://h:1234/v1", http_client=server.client())
    llm.complete("hi")
    assert llm.metadata.model_name == "served"


# ------------------------------------------------------------------- LangChain
def test_langchain_fills_the_window_once_a_call_learned_it() -> None:
    server = FakeServer()  # KoboldCpp answers /api/extra/true_max_context_length with {"value": 2048}
    chat = lc.ChatKoboldAI(base_url="http://h:5001/v1", model="m", http_client=server.client())
    assert not (chat.profile or {}).get("max_input_tokens")
    chat.invoke("hi")
    assert chat.profile is not None and chat.profile["max_input_tokens"] == 2048


@pytest.mark.parametrize("how", ["invoke", "stream"])
def test_langchain_window_unknown_stays_unknown(how: str) -> None:
    server = no_props_server()
    chat = lc.ChatLlamaCpp(base_url="http://h:8080/v1", model="m", http_client=server.client())
    assert chat.get_context_window() is None
    chat.invoke("hi") if how == "invoke" else list(chat.stream("hi"))
    assert "max_input_tokens" not in (chat.profile or {})


def test_langchain_get_context_window_fills_the_profile() -> None:
    server = FakeServer()
    chat = lc.ChatLlamaCpp(base_url="http://h:8080/v1", model="m", http_client=server.client())
    assert chat.get_context_window() == 8192
    assert chat.profile is not None and chat.profile["max_input_tokens"] == 8192


def test_langchain_a_given_window_is_not_replaced_by_a_call() -> None:
    server = FakeServer()
    chat = lc.ChatKoboldAI(
        base_url="http://h:5001/v1", model="m", http_client=server.client(), profile={"max_input_tokens": 1000}
    )
    chat.invoke("hi")
    assert chat.profile is not None and chat.profile["max_input_tokens"] == 1000

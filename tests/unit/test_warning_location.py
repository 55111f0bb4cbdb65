"""Every warning points at the user's own line, whatever depth of orbit-local and framework
code the call went through (sync, async, LangChain, LlamaIndex, constructors)."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from llama_index.core.base.llms.types import CacheControl, CachePoint, ChatMessage, MessageRole, TextBlock

import langchain_orbit_local as lc
import llamaindex_orbit_local as li
from orbit_local.backends.client import ContextOverflowWarning
from orbit_local.backends.tokens import TokenCountEstimateWarning
from orbit_local.protocols.params import ParameterNotSentWarning
from tests.fakes import FakeServer

BASE = "http://127.0.0.1:8080/v1"


def _lc(cls: type[Any], server: FakeServer, **kwargs: Any) -> Any:
    return cls(base_url=BASE, model="m", http_client=server.client(), http_async_client=server.async_client(), **kwargs)


def _li(cls: type[Any], server: FakeServer, **kwargs: Any) -> Any:
    return cls(base_url=BASE, model="m", http_client=server.client(), async_http_client=server.async_client(), **kwargs)


def _cached() -> list[ChatMessage]:
    blocks = [TextBlock(text="hi"), CachePoint(cache_control=CacheControl(type="ephemeral"))]
    return [ChatMessage(role=MessageRole.USER, blocks=blocks)]


CASES: dict[str, tuple[type[Warning], Callable[[FakeServer], Any]]] = {
    "misspelt keyword": (UserWarning, lambda s: _lc(lc.ChatLlamaCpp, s, max_token=5)),
    "LangChain invoke": (ParameterNotSentWarning, lambda s: _lc(lc.ChatLMStudio, s, n=2).invoke("hi")),
    "LangChain ainvoke": (ParameterNotSentWarning, lambda s: asyncio.run(_lc(lc.ChatLMStudio, s, n=2).ainvoke("hi"))),
    "LangChain stream": (ParameterNotSentWarning, lambda s: list(_lc(lc.ChatLMStudio, s, n=2).stream("hi"))),
    "LlamaIndex complete": (ParameterNotSentWarning, lambda s: _li(li.OllamaOpenAI, s, user="u").complete("hi")),
    "LlamaIndex CachePoint": (UserWarning, lambda s: _li(li.VLLM, s).chat(_cached())),
    "LlamaIndex async CachePoint": (UserWarning, lambda s: asyncio.run(_li(li.VLLM, s).achat(_cached()))),
    "token estimate": (TokenCountEstimateWarning, lambda s: _lc(lc.ChatLMStudio, s).get_num_tokens("hello")),
    "context overflow": (
        ContextOverflowWarning,
        lambda s: (lambda m: (m.get_context_window(), m.invoke("word " * 12000)))(_lc(lc.ChatLlamaCpp, s, max_tokens=9)),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_warning_points_at_the_users_line(case: str) -> None:
    category, call = CASES[case]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call(FakeServer())
    ours = [w for w in caught if issubclass(w.category, category)]
    assert ours, f"no {category.__name__} was raised"
    assert {w.filename for w in ours} == {__file__}

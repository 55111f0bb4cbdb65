"""The runnable examples in examples/, replayed from cassettes recorded on llama-cpp-python
(``make record PROVIDER=examples-llama-cpp-python``)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, ToolMessage

from examples import langchain_lcel_chain, langchain_tool_agent, llamaindex_function_agent, llamaindex_rag
from examples._settings import ExampleServer
from tests.targets import EXAMPLES, Target

pytestmark = pytest.mark.vcr

DATA = Path(__file__).resolve().parents[2] / "examples" / "data"


def _target() -> Target:
    recording = os.environ.get("ORBIT_RECORD_TARGET") == EXAMPLES.name
    if not recording and not EXAMPLES.recorded:
        pytest.skip("the examples have no cassettes yet: make record PROVIDER=examples-llama-cpp-python")
    return EXAMPLES


@pytest.fixture
def server() -> ExampleServer:
    target = _target()
    base_url = os.environ.get("ORBIT_RECORD_BASE_URL") or target.base_url
    return ExampleServer(
        provider=target.provider,
        base_url=base_url,
        chat_model=target.chat_model,
        tools_model=target.tools_model or target.chat_model,
        embed_model=target.embed_model or target.chat_model,
    )


@pytest.fixture
def vcr_cassette_dir() -> str:
    return str(EXAMPLES.cassette_dir)


def test_lcel_chain(server: ExampleServer) -> None:
    answer = langchain_lcel_chain.main(server)
    assert "Paris" in answer


def test_langchain_tool_agent(server: ExampleServer) -> None:
    messages = langchain_tool_agent.main(server)
    calls = [m for m in messages if isinstance(m, AIMessage) and m.tool_calls]
    assert calls and calls[0].tool_calls[0]["name"] == "get_weather"
    results = [m for m in messages if isinstance(m, ToolMessage)]
    assert results and "sunny" in str(results[0].content)
    assert isinstance(messages[-1], AIMessage) and messages[-1].text


def test_llamaindex_rag(server: ExampleServer) -> None:
    response = llamaindex_rag.main(DATA, "Which port does the GPT4All API server use?", server)
    assert str(response).strip()
    assert response.source_nodes
    assert any("4891" in node.node.get_content() for node in response.source_nodes)


def test_llamaindex_function_agent(server: ExampleServer) -> None:
    answer = asyncio.run(llamaindex_function_agent.run(server=server))
    assert "sunny in Paris" in answer  # the tool ran, with the city the model extracted

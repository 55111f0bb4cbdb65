"""OpenAI-style request bodies (orbit_local/protocols/openai.py): tool calls written into the
text for a server without tool calling, and the stream-usage warning's way out.
"""

from __future__ import annotations

import pytest

from orbit_local.protocols.openai import OpenAIProtocol
from orbit_local.protocols.params import ParameterNotSentWarning
from orbit_local.providers import get_provider
from orbit_local.types import ChatRequest, Message, ToolCall, ToolSpec

URL = "http://127.0.0.1:4891/v1"


def test_several_earlier_tool_calls_reach_a_server_without_tool_calling_as_text_one_after_another() -> None:
    """GPT4All has no tool calling (providers/gpt4all.md): an assistant turn's calls become a
    line of text the model reads, each call as ``name(arguments)``, separated by ``; ``."""
    calls = [ToolCall(id="c1", name="add", arguments={"a": 1}), ToolCall(id="c2", name="mul", arguments={"b": 2})]
    messages = [
        Message(role="user", content="add and multiply"),
        Message(role="assistant", content="", tool_calls=calls),
        Message(role="user", content="and then?"),
    ]
    body = OpenAIProtocol(get_provider("gpt4all"), URL).chat_request(
        ChatRequest(model="m", messages=messages), stream=False
    )
    wire = (body.json or {})["messages"]
    assert wire[1] == {"role": "assistant", "content": '[called tools: add({"a": 1}); mul({"b": 2})]'}


def test_the_stream_usage_warning_says_where_usage_comes_instead() -> None:
    request = ChatRequest(model="m", messages=[Message(role="user", content="hi")], stream_usage=True)
    with pytest.warns(ParameterNotSentWarning) as caught:
        OpenAIProtocol(get_provider("llama-cpp-python"), URL).chat_request(request, stream=True)
    assert "(invoke/chat answers carry usage)" in str(caught[0].message)


def test_the_chat_template_warning_names_the_apis_that_take_one() -> None:
    request = ChatRequest(model="m", messages=[Message(role="user", content="hi")], chat_template="llama3")
    with pytest.warns(ParameterNotSentWarning) as caught:
        OpenAIProtocol(get_provider("lmstudio"), URL).chat_request(request, stream=False)
    assert "(chat_template is for prompt APIs: KoboldAI, GPT4All's direct mode)" in str(caught[0].message)


def test_the_recover_tool_calls_warning_on_a_stream_says_what_to_call_instead() -> None:
    tools = [ToolSpec(name="add", description="add", parameters={"type": "object", "properties": {}})]
    request = ChatRequest(
        model="m", messages=[Message(role="user", content="hi")], tools=tools, recover_tool_calls=True
    )
    with pytest.warns(UserWarning) as caught:
        OpenAIProtocol(get_provider("vllm"), URL).chat_request(request, stream=True)
    assert "call invoke/chat to recover tool calls written as text" in str(caught[0].message)

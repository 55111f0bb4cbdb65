"""Every setting the server is not sent is warned about (or refused), naming the setting and
the server (step 9's settings audit)."""

from __future__ import annotations

import warnings

import pytest

from orbit_local.facts.errors import UnsupportedFeatureError
from orbit_local.facts.providers import get_provider
from orbit_local.facts.types import ChatRequest, Message
from orbit_local.protocols.kobold import KoboldProtocol
from orbit_local.protocols.openai import OpenAIProtocol
from orbit_local.protocols.params import ParameterNotSentWarning

USER = [Message(role="user", content="hi")]
URL = "http://127.0.0.1:1/v1"


def body(provider: str, *, stream: bool = True, **fields: object) -> dict:
    protocol = OpenAIProtocol(get_provider(provider), URL)
    request = ChatRequest(model="m", messages=USER, **fields)  # type: ignore[arg-type]
    return protocol.chat_request(request, stream=stream).json or {}


@pytest.mark.parametrize("provider", ["llama-cpp-python", "fastchat", "koboldcpp-openai"])
def test_stream_usage_true_on_a_server_that_sends_none_warns(provider: str) -> None:
    # these profiles say stream_usage="never": stream_options would be ignored, so it is not sent
    with pytest.warns(ParameterNotSentWarning, match="stream_usage") as caught:
        sent = body(provider, stream_usage=True)
    assert "stream_options" not in sent
    assert get_provider(provider).display_name in str(caught[0].message)


def test_stream_usage_is_quiet_where_it_is_sent_or_not_asked() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert body("lmstudio", stream_usage=True)["stream_options"] == {"include_usage": True}
        body("llama-cpp-python")  # not asked for
        body("llama-cpp-python", stream=False, stream_usage=True)  # a whole answer carries usage


def test_chat_template_on_a_chat_completions_server_warns() -> None:
    with pytest.warns(ParameterNotSentWarning, match="chat_template is not sent to LM Studio"):
        sent = body("lmstudio", stream=False, chat_template="llama3")
    assert "chat_template" not in sent


def test_tool_choice_without_tools_warns() -> None:
    with pytest.warns(ParameterNotSentWarning, match="tool_choice without tools is not sent to vLLM"):
        sent = body("vllm", stream=False, tool_choice="required")
    assert "tool_choice" not in sent


def test_response_format_on_koboldai_is_refused_before_sending() -> None:
    protocol = KoboldProtocol(get_provider("koboldai"), URL)
    request = ChatRequest(model="m", messages=USER, response_format={"type": "json_object"})
    with pytest.raises(UnsupportedFeatureError, match="KoboldAI"):
        protocol.chat_request(request, stream=False)


def test_langchain_stream_usage_true_warns_through_the_adapter() -> None:
    from langchain_orbit_local import ChatOrbitLocal
    from tests.fakes import FakeServer

    server = FakeServer()
    model = ChatOrbitLocal(
        provider="llama-cpp-python", model="m", base_url=URL, http_client=server.client(), stream_usage=True
    )
    with pytest.warns(ParameterNotSentWarning, match="llama-cpp-python server sends no usage in streams"):
        list(model.stream("hi"))


def test_recover_tool_calls_on_a_native_stream_warns() -> None:
    from orbit_local.facts.types import ToolSpec

    tools = [ToolSpec(name="add", description="", parameters={"type": "object", "properties": {}})]
    with pytest.warns(UserWarning, match="recover_tool_calls applies to whole answers"):
        body("vllm", tools=tools, recover_tool_calls=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        body("vllm", stream=False, tools=tools, recover_tool_calls=True)  # recovered on the whole answer
        body("vllm", tools=tools)  # a plain tool stream: nothing was asked that is not done

"""Text-only content goes as one string where the server needs one (llama-cpp-python's
default chat templates answer a list of text parts with HTTP 500); parts stay where the
server takes them."""

from __future__ import annotations

from orbit_local.facts.providers import get_provider
from orbit_local.facts.types import ChatRequest, ContentPart, Message
from orbit_local.protocols.openai import OpenAIProtocol

TWO_TEXTS = Message(
    role="user", content="", parts=[ContentPart(kind="text", text="a"), ContentPart(kind="text", text="b")]
)


def sent_content(provider: str, message: Message) -> object:
    protocol = OpenAIProtocol(get_provider(provider), "http://127.0.0.1:1/v1")
    body = protocol.chat_request(ChatRequest(model="m", messages=[message]), stream=False).json or {}
    return body["messages"][0]["content"]


def test_llama_cpp_python_gets_two_text_blocks_as_one_string() -> None:
    assert sent_content("llama-cpp-python", TWO_TEXTS) == "a\nb"


def test_gpt4all_gets_one_string_too() -> None:
    assert sent_content("gpt4all", TWO_TEXTS) == "a\nb"


def test_servers_that_take_parts_keep_them() -> None:
    for provider in ("llamacpp", "lmstudio", "vllm"):
        assert sent_content(provider, TWO_TEXTS) == [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]


def test_llama_cpp_python_keeps_parts_when_an_image_is_there() -> None:
    image = ContentPart(kind="image", url="http://x/cat.png")
    message = Message(role="user", content="", parts=[ContentPart(kind="text", text="what is it?"), image])
    assert sent_content("llama-cpp-python", message) == [
        {"type": "text", "text": "what is it?"},
        {"type": "image_url", "image_url": {"url": "http://x/cat.png"}},
    ]


def test_langchain_two_text_blocks_reach_llama_cpp_python_as_a_string() -> None:
    from langchain_core.messages import HumanMessage

    from langchain_orbit_local._convert import to_message

    message = to_message(HumanMessage(content=[{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]))
    assert sent_content("llama-cpp-python", message) == "a\nb"


def test_llamaindex_two_text_blocks_reach_llama_cpp_python_as_a_string() -> None:
    from llama_index.core.base.llms.types import ChatMessage, TextBlock

    from llamaindex_orbit_local._convert import to_message

    message = to_message(ChatMessage(role="user", blocks=[TextBlock(text="a"), TextBlock(text="b")]))
    assert sent_content("llama-cpp-python", message) == "a\nb"

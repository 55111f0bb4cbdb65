"""Content parts in OpenAI's shapes, and the refusals that come before anything is sent.

Wire shapes are OpenAI's chat-completions content parts: ``image_url`` (an http(s) or data
URL, optional ``detail``), ``input_audio`` (base64 ``data`` and ``format`` "wav" or "mp3"),
``file`` (``file_id``, or ``file_data`` as a data URL with an optional ``filename``). Which
server takes what is from docs/providers: LocalAI and llama.cpp take audio, GPT4All text only.
"""

from __future__ import annotations

import pytest

from orbit_local.content import openai_content
from orbit_local.errors import UnsupportedFeatureError
from orbit_local.protocols.openai import OpenAIProtocol
from orbit_local.providers import get_provider
from orbit_local.types import ChatRequest, ContentPart, Message

URL = "http://127.0.0.1:9/v1"


def sent(provider: str, *messages: Message) -> list[dict]:
    body = OpenAIProtocol(get_provider(provider), URL).chat_request(
        ChatRequest(model="m", messages=list(messages)), stream=False
    )
    return (body.json or {})["messages"]


def user(*parts: ContentPart) -> Message:
    return Message(role="user", content="", parts=list(parts))


def refusal(provider: str, message: Message) -> UnsupportedFeatureError:
    with pytest.raises(UnsupportedFeatureError) as caught:
        sent(provider, message)
    return caught.value


@pytest.mark.parametrize(
    ("part", "wire"),
    [
        (ContentPart("image", data="QUJD"), {"type": "image_url", "image_url": {"url": "data:image/png;base64,QUJD"}}),
        (ContentPart("image", data="QUJD", mime_type="image/jpeg", detail="low"),
         {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,QUJD", "detail": "low"}}),
        (ContentPart("audio", data="UklGRg==", mime_type="audio/x-wav"),
         {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}),
        (ContentPart("audio", data="SUQz", mime_type="Audio/MPEG"),
         {"type": "input_audio", "input_audio": {"data": "SUQz", "format": "mp3"}}),
        (ContentPart("audio", data="SUQz", mime_type="audio/wav", format="mp3"),
         {"type": "input_audio", "input_audio": {"data": "SUQz", "format": "mp3"}}),
        (ContentPart("file", file_id="file-abc"), {"type": "file", "file": {"file_id": "file-abc"}}),
        (ContentPart("file", data="JVBERg=="),
         {"type": "file", "file": {"file_data": "data:application/octet-stream;base64,JVBERg=="}}),
        (ContentPart("file", data="JVBERg==", mime_type="application/pdf", filename="a.pdf"),
         {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERg==", "filename": "a.pdf"}}),
        (ContentPart("raw", raw={"type": "video_url", "video_url": {"url": "https://v"}}),
         {"type": "video_url", "video_url": {"url": "https://v"}}),
    ],
)  # fmt: skip
def test_each_part_in_openai_shape_after_a_text_part(part: ContentPart, wire: dict) -> None:
    messages = sent("openai-compatible", user(ContentPart("text", text="Look:"), part))
    assert messages[0]["content"] == [{"type": "text", "text": "Look:"}, wire]


def test_a_single_text_part_is_a_plain_string_and_a_message_without_parts_is_never_null() -> None:
    assert sent("vllm", user(ContentPart("text", text="hi")))[0]["content"] == "hi"
    # llama-cpp-python answers 500 and FastChat 400 to content null
    assert sent("vllm", Message(role="assistant", content=""))[0]["content"] == ""


def test_only_user_messages_carry_part_lists() -> None:
    two = [ContentPart("text", text="One."), ContentPart("text", text="Two.")]
    for role in ("system", "assistant"):
        assert sent("vllm", Message(role=role, content="", parts=two))[0]["content"] == "One.\nTwo."
    assert sent("vllm", Message(role="user", content="", parts=two))[0]["content"] == [
        {"type": "text", "text": "One."},
        {"type": "text", "text": "Two."},
    ]
    # GPT4All parses content as a string: the text parts go on their own lines.
    assert sent("gpt4all", Message(role="user", content="", parts=two))[0]["content"] == "One.\nTwo."


def test_a_part_that_cannot_be_sent_is_refused_when_shaped() -> None:
    with pytest.raises(UnsupportedFeatureError, match="'video'"):
        openai_content(user(ContentPart("unsupported", label="video")), get_provider("openai-compatible"))
    with pytest.raises(UnsupportedFeatureError, match="'raw'"):
        openai_content(user(ContentPart("raw")), get_provider("openai-compatible"))


@pytest.mark.parametrize(
    ("provider", "message", "says", "advice"),
    [
        ("openai-compatible", user(ContentPart("unsupported", label="video")), "cannot send to any server",
         "turn it into text"),
        ("openai-compatible", user(ContentPart("unsupported")), "'unsupported'", "remove the block"),
        ("localai", Message(role="tool", parts=[ContentPart("image", url="https://i")], tool_call_id="c"),
         "tool results carry text only", "user message"),
        ("localai", Message(role="system", parts=[ContentPart("image", url="https://i")]),
         "a system message holds a 'image' block", "move the block"),
        ("localai", Message(role="assistant", parts=[ContentPart("audio", data="x", format="wav")]),
         "only user messages carry media", "move the block"),
        ("lmstudio", user(ContentPart("audio", data="x", format="wav", label="input_audio")),
         "'input_audio' block; this server takes only image, text", "docs/content.md"),
        ("gpt4all", user(ContentPart("image", url="https://i")), "a user message holds a 'image' block",
         "remove the image block"),
    ],
)  # fmt: skip
def test_refusals_name_the_server_the_url_the_block_and_what_to_do(
    provider: str, message: Message, says: str, advice: str
) -> None:
    error = refusal(provider, message)
    assert (error.provider, error.base_url) == (get_provider(provider).display_name, URL)
    assert says in error.message
    assert error.hint is not None and advice in error.hint


@pytest.mark.parametrize("mime", [None, "audio/ogg"])
def test_audio_that_is_neither_wav_nor_mp3_is_refused_before_sending(mime: str | None) -> None:
    error = refusal("localai", user(ContentPart("audio", data="T2dnUw==", mime_type=mime)))
    assert repr(mime or "unknown") in error.message
    assert error.hint is not None and "WAV or MP3" in error.hint


def test_raw_parts_pass_whatever_the_server_lists() -> None:
    part = ContentPart("raw", raw={"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}})
    assert sent("lmstudio", user(ContentPart("text", text="a"), part))[0]["content"][1] == part.raw


def test_a_text_part_first_does_not_let_the_media_after_it_through() -> None:
    # GPT4All takes text only (providers/gpt4all.md)
    error = refusal("gpt4all", user(ContentPart("text", text="Look:"), ContentPart("image", url="https://i")))
    assert "'image'" in error.message

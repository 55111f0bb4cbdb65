"""Content blocks reach the server in its format, in order, or are refused before sending.

Wire shapes are OpenAI's chat-completions content parts (``image_url`` with ``detail``,
``input_audio`` with ``format``, ``file`` with ``file_data``/``filename``). Which server takes
what is from ../shared/providers and the servers' docs: LM Studio takes images but not audio;
llama.cpp takes images and audio (libmtmd) but not files; KoboldAI's generate API and GPT4All
take text only.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage, SystemMessage, ToolMessage
from llama_index.core.base.llms.types import (
    AudioBlock,
    CacheControl,
    CachePoint,
    ChatMessage,
    DocumentBlock,
    ImageBlock,
    MessageRole,
    TextBlock,
    VideoBlock,
)

import langchain_orbit_local as lc
import llamaindex_orbit_local as li
from orbit_local.facts.errors import UnsupportedFeatureError
from orbit_local.facts.providers import get_provider
from orbit_local.facts.types import ChatRequest, ContentPart, Message
from orbit_local.protocols.openai import OpenAIProtocol
from orbit_local.wire.content import openai_content
from tests.fakes import FakeServer

BASE = "http://127.0.0.1:5999/v1"
PNG_A = "data:image/png;base64,QUFBQQ=="
PNG_B = "https://example.invalid/b.png"
WAV = base64.b64encode(b"RIFF....WAVEfmt ").decode()
PDF = base64.b64encode(b"%PDF-1.4 tiny").decode()


def sent_messages(server: FakeServer) -> list[dict[str, Any]]:
    chats = [json.loads(r.content) for r in server.requests if r.url.path.endswith("/chat/completions")]
    return chats[-1]["messages"] if chats else []


def lc_model(cls: type[Any], server: FakeServer, **kwargs: Any) -> Any:
    return cls(base_url=BASE, model="m", http_client=server.client(), **kwargs)


def li_model(cls: type[Any], server: FakeServer, **kwargs: Any) -> Any:
    return cls(base_url=BASE, model="m", http_client=server.client(), **kwargs)


def test_order_detail_and_separate_text_parts_are_kept() -> None:
    server = FakeServer()
    content: list[Any] = [
        {"type": "text", "text": "First image:"},
        {"type": "image_url", "image_url": {"url": PNG_A, "detail": "high"}},
        {"type": "text", "text": "Second image:"},
        {"type": "image", "url": PNG_B},
    ]
    lc_model(lc.ChatLMStudio, server).invoke([HumanMessage(content=content)])
    assert sent_messages(server)[0]["content"] == [
        {"type": "text", "text": "First image:"},
        {"type": "image_url", "image_url": {"url": PNG_A, "detail": "high"}},
        {"type": "text", "text": "Second image:"},
        {"type": "image_url", "image_url": {"url": PNG_B}},
    ]


def test_two_text_blocks_are_never_glued() -> None:
    server = FakeServer()
    two = [{"type": "text", "text": "Line one."}, {"type": "text", "text": "Line two."}]
    lc_model(lc.ChatLMStudio, server).invoke([SystemMessage(content=two), HumanMessage(content=two)])
    system, user = sent_messages(server)
    assert system["content"] == "Line one.\nLine two."  # system content is a string on every server
    assert user["content"] == [{"type": "text", "text": "Line one."}, {"type": "text", "text": "Line two."}]
    lc_model(lc.ChatGPT4All, server).invoke([HumanMessage(content=two)])
    assert sent_messages(server)[0]["content"] == "Line one.\nLine two."  # GPT4All takes strings only


def test_v1_audio_file_and_plain_text_blocks() -> None:
    server = FakeServer()
    content = [
        {"type": "text-plain", "text": "notes.txt says hi", "mime_type": "text/plain"},
        {"type": "audio", "base64": WAV, "mime_type": "audio/wav"},
        {"type": "file", "base64": PDF, "mime_type": "application/pdf", "extras": {"filename": "a.pdf"}},
    ]
    lc_model(lc.ChatOrbitLocal, server, provider="openai-compatible").invoke([HumanMessage(content=content)])
    assert sent_messages(server)[0]["content"] == [
        {"type": "text", "text": "notes.txt says hi"},
        {"type": "input_audio", "input_audio": {"data": WAV, "format": "wav"}},
        {"type": "file", "file": {"filename": "a.pdf", "file_data": f"data:application/pdf;base64,{PDF}"}},
    ]


def test_openai_shaped_and_non_standard_blocks_pass_through() -> None:
    server = FakeServer()
    content = [
        {"type": "input_audio", "input_audio": {"data": WAV, "format": "mp3"}},
        {"type": "file", "file": {"file_id": "file-1"}},
        {"type": "non_standard", "value": {"type": "video_url", "video_url": {"url": "https://v"}}},
    ]
    lc_model(lc.ChatOrbitLocal, server, provider="openai-compatible").invoke([HumanMessage(content=content)])
    assert sent_messages(server)[0]["content"] == [
        {"type": "input_audio", "input_audio": {"data": WAV, "format": "mp3"}},
        {"type": "file", "file": {"file_id": "file-1"}},
        {"type": "video_url", "video_url": {"url": "https://v"}},
    ]


@pytest.mark.parametrize(
    ("cls", "message", "says"),
    [
        (lc.ChatLMStudio, HumanMessage(content=[{"type": "audio", "base64": WAV, "mime_type": "audio/wav"}]),
         "LM Studio.*'audio' block; this server takes only image, text"),
        (lc.ChatLlamaCpp, HumanMessage(content=[{"type": "file", "base64": PDF, "mime_type": "application/pdf"}]),
         "llama.cpp server.*'file' block"),
        (lc.ChatKoboldAI, HumanMessage(content=[{"type": "image", "url": PNG_B}]), "KoboldAI.*takes only text"),
        (lc.ChatLMStudio, HumanMessage(content=[{"type": "video", "url": "https://v.mp4"}]), "'video' content block"),
        (lc.ChatLMStudio, ToolMessage(content=[{"type": "image", "url": PNG_B}], tool_call_id="c"),
         "tool result holds a 'image' block"),
        (lc.ChatOrbitLocal, HumanMessage(content=[{"type": "audio", "base64": WAV, "mime_type": "audio/ogg"}]),
         "audio/ogg"),
    ],
)  # fmt: skip
def test_blocks_a_server_cannot_take_are_refused_before_sending(cls: type[Any], message: Any, says: str) -> None:
    server = FakeServer()
    kwargs = {"provider": "openai-compatible"} if cls is lc.ChatOrbitLocal else {}
    with pytest.raises(UnsupportedFeatureError, match=says):
        lc_model(cls, server, **kwargs).invoke([message])
    assert not [r for r in server.requests if r.method == "POST"]


def test_llamaindex_blocks_in_order(tmp_path: Path) -> None:
    server = FakeServer()
    message = ChatMessage(
        role=MessageRole.USER,
        blocks=[
            TextBlock(text="Look:"),
            ImageBlock(url=PNG_B, detail="low"),
            AudioBlock(audio=b"RIFF....WAVEfmt ", format="wav"),
            DocumentBlock(data=b"%PDF-1.4 tiny", document_mimetype="application/pdf", title="a.pdf"),
            TextBlock(text="Thanks."),
        ],
    )
    li_model(li.OrbitLocal, server, provider="openai-compatible").chat([message])
    assert sent_messages(server)[0]["content"] == [
        {"type": "text", "text": "Look:"},
        {"type": "image_url", "image_url": {"url": PNG_B, "detail": "low"}},
        {"type": "input_audio", "input_audio": {"data": WAV, "format": "wav"}},
        {"type": "file", "file": {"filename": "a.pdf", "file_data": f"data:application/pdf;base64,{PDF}"}},
        {"type": "text", "text": "Thanks."},
    ]


def test_llamaindex_image_bytes_become_a_data_url() -> None:
    server = FakeServer()
    message = ChatMessage(role=MessageRole.USER, blocks=[ImageBlock(image=b"\x89PNG....", image_mimetype="image/png")])
    li_model(li.LMStudio, server).chat([message])
    (part,) = sent_messages(server)[0]["content"]
    assert part["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(b"\x89PNG....").decode()


def test_llamaindex_refusals_and_cache_points() -> None:
    server = FakeServer()
    with pytest.raises(UnsupportedFeatureError, match="'VideoBlock'"):
        li_model(li.VLLM, server).chat([ChatMessage(role=MessageRole.USER, blocks=[VideoBlock(url="https://v.mp4")])])
    with pytest.raises(UnsupportedFeatureError, match=r"Ollama.*'AudioBlock' block"):
        li_model(li.OllamaOpenAI, server).chat(
            [ChatMessage(role=MessageRole.USER, blocks=[AudioBlock(audio=b"RIFF", format="wav")])]
        )
    assert not [r for r in server.requests if r.method == "POST"]
    cached = [TextBlock(text="hi"), CachePoint(cache_control=CacheControl(type="ephemeral"))]
    with pytest.warns(UserWarning, match="CachePoint"):
        li_model(li.VLLM, server).chat([ChatMessage(role=MessageRole.USER, blocks=cached)])
    assert sent_messages(server)[0]["content"] == "hi"


def test_gpt4all_in_process_refuses_media_before_loading(tmp_path: Path) -> None:
    model_file = tmp_path / "never-loaded.gguf"
    model_file.write_bytes(b"not a model")
    chat = lc.ChatGPT4All(model_path=str(model_file))
    with pytest.raises(UnsupportedFeatureError, match=r"GPT4All \(in-process\).*'image' block"):
        chat.invoke([HumanMessage(content=[{"type": "image", "url": PNG_B}])])


# --- content parts on the wire, refused before sending, with no I/O -------------------------------
# Wire shapes are OpenAI's chat-completions content parts: ``image_url`` (an http(s) or data
# URL, optional ``detail``), ``input_audio`` (base64 ``data`` and ``format`` "wav" or "mp3"),
# ``file`` (``file_id``, or ``file_data`` as a data URL with an optional ``filename``). Which
# server takes what is from docs/providers: LocalAI and llama.cpp take audio, GPT4All text only.


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

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
from orbit_local.errors import UnsupportedFeatureError
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

"""Images through a real llama-server with a multimodal projector (step 10), replayed.

``make record PROVIDER=vision-llamacpp`` starts llama-server with ``--mmproj`` (the launcher
``llamacpp-vision`` in tests/live/servers.py; the projector is made on this machine by
tests/live/make_mmproj.py with globalmm: a small seeded SigLIP tower and a projection into
SmolLM2's embedding space). SmolLM2 was never trained on those image tokens, so what it says
about the pictures is poor; what is real is the exchange: llama-server decodes each image,
encodes it into 16 tokens and runs them through the model, and answers as it does for any
vision model. Its answer when started *without* a projector is the other suite,
tests/replay/test_vision_no_projector.py.

What is asserted is what the wire shows: the parts reach the server in the user's order as
``image_url`` parts (``detail`` kept, bytes as ``data:`` URLs), and what our classes return is
what the server sent (text, usage, finish reason), through LangChain and LlamaIndex, sync and
async, invoke and stream. Token counts are server facts read from the recordings.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from llama_index.core.base.llms.types import ChatMessage, ImageBlock, MessageRole, TextBlock

from langchain_orbit_local import ChatLlamaCpp, ChatOrbitLocal
from llamaindex_orbit_local import LlamaCpp
from tests.targets import Target, vision_targets

pytestmark = pytest.mark.vcr

TARGETS = [pytest.param(t, id=t.name) for t in vision_targets()]
if not TARGETS:
    TARGETS = [pytest.param(None, marks=pytest.mark.skip(reason="no vision cassettes recorded yet"), id="none")]

# 8x8 single-colour RGB PNGs, made by hand (signature, IHDR, one zlib IDAT, IEND) and checked
# with Pillow; fixed bytes, so the request bodies match the recordings on any machine.
RED_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAEUlEQVR42mP4z8CAFTEMLQkAKP8/wc53yE8AAAAASUVORK5CYII="
)
BLUE_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAEElEQVR42mNgYPiPAw0pCQCpcD/B/MtF/AAAAABJRU5ErkJggg=="
)
RED_URL = "data:image/png;base64," + base64.b64encode(RED_PNG).decode()
BLUE_URL = "data:image/png;base64," + base64.b64encode(BLUE_PNG).decode()
ASK = "What colour is this picture?"
MAX_TOKENS = 16
# Prompt sizes llama-server reported (recorded): ASK with one image, before or after it, is 66
# tokens; ASK alone is 36 (cassettes/vision-llamacpp-no-mmproj). So an image costs 30: the 16
# embeddings of the projector (112/14 = 8 patches a side, pooled 2x2) and the gemma3-type
# projector's <start_of_image> / <end_of_image> marker texts, which SmolLM2 reads as plain text.
PROMPT_ONE_IMAGE = 66
IMAGE_TOKENS = 30
PROMPT_TWO_IMAGES = 95  # "Compare the two pictures." and two images


def settings(target: Target) -> dict[str, Any]:
    return {
        "base_url": target.base_url,
        "model": target.chat_model,
        "temperature": 0,
        "max_tokens": MAX_TOKENS,
        "seed": 7,
    }


def lc(target: Target) -> ChatLlamaCpp:
    return ChatLlamaCpp(**settings(target))


def li(target: Target) -> LlamaCpp:
    return LlamaCpp(**settings(target))


def sent(vcr: Any) -> list[dict[str, Any]]:
    """The chat request bodies this test sent (recorded or replayed), in order."""
    return [
        json.loads(r.body.decode() if isinstance(r.body, bytes) else r.body)
        for r in vcr.requests
        if r.path == "/v1/chat/completions" and r.body
    ]


def answers(vcr: Any) -> list[dict[str, Any] | str]:
    """The server's chat answers as recorded: a JSON body, or an SSE stream's text."""
    out: list[dict[str, Any] | str] = []
    for request, response in zip(vcr.requests, vcr.responses, strict=True):
        if request.path != "/v1/chat/completions":
            continue
        body = response["body"]["string"]
        text = body.decode() if isinstance(body, bytes) else body
        out.append(text if text.startswith("data:") else json.loads(text))
    return out


def streamed(sse: str) -> tuple[str, dict[str, Any], str | None]:
    """Text, usage and finish reason of a recorded chat-completions SSE stream."""
    text, usage, finish = "", {}, None
    for line in sse.splitlines():
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        frame = json.loads(line[len("data: ") :])
        for choice in frame.get("choices") or []:
            text += choice.get("delta", {}).get("content") or ""
            finish = choice.get("finish_reason") or finish
        usage = frame.get("usage") or usage
    return text, usage, finish


def user_parts(body: dict[str, Any]) -> list[dict[str, Any]]:
    (message,) = [m for m in body["messages"] if m["role"] == "user"]
    parts = message["content"]
    assert isinstance(parts, list)
    return parts


def check_reply(message: Any, recorded: dict[str, Any]) -> None:
    """A LangChain AIMessage holds exactly what the server answered."""
    choice = recorded["choices"][0]
    assert message.content == choice["message"]["content"]
    assert message.response_metadata["finish_reason"] == choice["finish_reason"]
    usage = recorded["usage"]
    assert message.usage_metadata["input_tokens"] == usage["prompt_tokens"]
    assert message.usage_metadata["output_tokens"] == usage["completion_tokens"]


# --------------------------------------------------------------------------- order


def test_text_then_image_keeps_its_order(target: Target, vcr: Any) -> None:
    message = HumanMessage(
        content=[{"type": "text", "text": ASK}, {"type": "image_url", "image_url": {"url": RED_URL}}]
    )
    reply = lc(target).invoke([message])
    (body,) = sent(vcr)
    assert user_parts(body) == [{"type": "text", "text": ASK}, {"type": "image_url", "image_url": {"url": RED_URL}}]
    (recorded,) = answers(vcr)
    assert isinstance(recorded, dict)
    check_reply(reply, recorded)
    assert reply.content  # the model said something about the picture (poorly)
    assert recorded["usage"]["prompt_tokens"] == PROMPT_ONE_IMAGE


def test_image_then_text_keeps_its_order(target: Target, vcr: Any) -> None:
    # LangChain's v1 image block with bytes: sent as a data: URL of the same bytes
    message = HumanMessage(
        content=[
            {"type": "image", "base64": base64.b64encode(RED_PNG).decode(), "mime_type": "image/png"},
            {"type": "text", "text": ASK},
        ]
    )
    reply = lc(target).invoke([message])
    (body,) = sent(vcr)
    assert user_parts(body) == [{"type": "image_url", "image_url": {"url": RED_URL}}, {"type": "text", "text": ASK}]
    (recorded,) = answers(vcr)
    assert isinstance(recorded, dict)
    check_reply(reply, recorded)
    assert recorded["usage"]["prompt_tokens"] == PROMPT_ONE_IMAGE  # the same tokens, in another order


# --------------------------------------------------------------------------- detail


def test_detail_reaches_the_server(target: Target, vcr: Any) -> None:
    chat = lc(target)
    replies = [
        chat.invoke(
            [
                HumanMessage(
                    content=[
                        {"type": "text", "text": ASK},
                        {"type": "image_url", "image_url": {"url": RED_URL, "detail": "low"}},
                    ]
                )
            ]
        ),
        # a v1 block keeps detail in extras
        chat.invoke(
            [
                HumanMessage(
                    content=[
                        {"type": "text", "text": ASK},
                        {"type": "image", "url": RED_URL, "extras": {"detail": "high"}},
                    ]
                )
            ]
        ),
    ]
    low, high = sent(vcr)
    assert user_parts(low)[1] == {"type": "image_url", "image_url": {"url": RED_URL, "detail": "low"}}
    assert user_parts(high)[1] == {"type": "image_url", "image_url": {"url": RED_URL, "detail": "high"}}
    recorded = answers(vcr)
    for reply, answer in zip(replies, recorded, strict=True):
        assert isinstance(answer, dict)
        check_reply(reply, answer)
    # llama-server takes the field and ignores it: an image costs the same tokens either way
    assert [a["usage"]["prompt_tokens"] for a in recorded if isinstance(a, dict)] == [PROMPT_ONE_IMAGE] * 2


# --------------------------------------------------------------------------- two images


def test_two_images_in_one_message(target: Target, vcr: Any) -> None:
    content: list[Any] = [
        {"type": "text", "text": "Compare the two pictures."},
        {"type": "image_url", "image_url": {"url": RED_URL}},
        {"type": "image_url", "image_url": {"url": BLUE_URL}},
    ]
    reply = ChatOrbitLocal(provider="llamacpp", **settings(target)).invoke([HumanMessage(content=content)])
    response = li(target).chat(
        [
            ChatMessage(
                role=MessageRole.USER,
                blocks=[
                    TextBlock(text="Compare the two pictures."),
                    ImageBlock(image=RED_PNG, image_mimetype="image/png"),
                    ImageBlock(image=BLUE_PNG, image_mimetype="image/png"),
                ],
            )
        ]
    )
    # both frameworks send the same three parts, in order
    lc_body, li_body = sent(vcr)
    assert user_parts(lc_body) == user_parts(li_body) == content
    lc_answer, li_answer = answers(vcr)
    assert isinstance(lc_answer, dict) and isinstance(li_answer, dict)
    check_reply(reply, lc_answer)
    assert response.message.content == li_answer["choices"][0]["message"]["content"]
    assert response.raw == li_answer
    # each image is its own block of tokens in the prompt
    assert lc_answer["usage"]["prompt_tokens"] == PROMPT_TWO_IMAGES


# --------------------------------------------------------------------------- streams and async


def test_langchain_stream_and_async(target: Target, vcr: Any) -> None:
    message = HumanMessage(
        content=[{"type": "image_url", "image_url": {"url": BLUE_URL}}, {"type": "text", "text": ASK}]
    )
    chat = lc(target)
    chunks = list(chat.stream([message]))

    async def run() -> tuple[Any, list[Any]]:
        return await chat.ainvoke([message]), [c async for c in chat.astream([message])]

    async_reply, async_chunks = asyncio.run(run())
    bodies = sent(vcr)
    assert [b.get("stream", False) for b in bodies] == [True, False, True]
    assert all(user_parts(b) == user_parts(bodies[1]) for b in bodies)
    assert user_parts(bodies[1]) == [
        {"type": "image_url", "image_url": {"url": BLUE_URL}},
        {"type": "text", "text": ASK},
    ]
    stream_sse, reply_json, async_sse = answers(vcr)
    assert isinstance(stream_sse, str) and isinstance(reply_json, dict) and isinstance(async_sse, str)
    check_reply(async_reply, reply_json)
    for got, sse in ((chunks, stream_sse), (async_chunks, async_sse)):
        text, usage, finish = streamed(sse)
        assert "".join(str(c.content) for c in got) == text
        merged = got[0]
        for chunk in got[1:]:
            merged += chunk
        assert merged.usage_metadata["input_tokens"] == usage["prompt_tokens"] == reply_json["usage"]["prompt_tokens"]
        assert merged.response_metadata["finish_reason"] == finish


def test_llamaindex_image_blocks(target: Target, vcr: Any) -> None:
    llm = li(target)
    first = llm.chat(
        [
            ChatMessage(
                role=MessageRole.USER,
                blocks=[ImageBlock(image=RED_PNG, image_mimetype="image/png", detail="low"), TextBlock(text=ASK)],
            )
        ]
    )
    text_first = [ChatMessage(role=MessageRole.USER, blocks=[TextBlock(text=ASK), ImageBlock(url=BLUE_URL)])]
    streamed_chunks = list(llm.stream_chat(text_first))

    async def run() -> Any:
        return await llm.achat(text_first)

    async_reply = asyncio.run(run())
    image_first, stream_body, async_body = sent(vcr)
    assert user_parts(image_first) == [
        {"type": "image_url", "image_url": {"url": RED_URL, "detail": "low"}},
        {"type": "text", "text": ASK},
    ]
    assert (
        user_parts(stream_body)
        == user_parts(async_body)
        == [
            {"type": "text", "text": ASK},
            {"type": "image_url", "image_url": {"url": BLUE_URL}},
        ]
    )
    first_json, stream_sse, async_json = answers(vcr)
    assert isinstance(first_json, dict) and isinstance(stream_sse, str) and isinstance(async_json, dict)
    assert first.message.content == first_json["choices"][0]["message"]["content"]
    assert async_reply.message.content == async_json["choices"][0]["message"]["content"]
    text, _, _ = streamed(stream_sse)
    assert streamed_chunks[-1].message.content == text
    assert "".join(c.delta or "" for c in streamed_chunks) == text

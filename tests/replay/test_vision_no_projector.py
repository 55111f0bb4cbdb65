"""An image sent to a llama-server started without a multimodal projector (step 10), replayed.

``make record PROVIDER=vision-llamacpp-no-mmproj`` starts the plain llama-server (launcher
``llamacpp``, no ``--mmproj``). The profile says llama.cpp takes images (``content_kinds``),
because whether it does depends on how the server was started, which only the server knows:
so the request is sent, and the server's refusal must come back as a typed error that says
what to do. The server's own words are in the recording (tools/server/server-common.cpp:
"image input is not supported - hint: if this is unexpected, you may need to provide the
mmproj").
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from llama_index.core.base.llms.types import ChatMessage, ImageBlock, MessageRole, TextBlock

from langchain_orbit_local import ChatLlamaCpp
from langchain_orbit_local import errors as lc_errors
from llamaindex_orbit_local import LlamaCpp
from orbit_local.facts.errors import UnsupportedFeatureError
from tests.replay.test_vision import (
    ASK,
    IMAGE_TOKENS,
    MAX_TOKENS,
    PROMPT_ONE_IMAGE,
    RED_PNG,
    RED_URL,
    answers,
    sent,
)
from tests.targets import Target, no_projector_targets

pytestmark = pytest.mark.vcr

TARGETS = [pytest.param(t, id=t.name) for t in no_projector_targets()]
if not TARGETS:
    TARGETS = [pytest.param(None, marks=pytest.mark.skip(reason="no projector-less cassettes recorded yet"), id="none")]

IMAGE_MESSAGE = HumanMessage(
    content=[{"type": "text", "text": ASK}, {"type": "image_url", "image_url": {"url": RED_URL}}]
)


def lc(target: Target) -> ChatLlamaCpp:
    return ChatLlamaCpp(base_url=target.base_url, model=target.chat_model, temperature=0, max_tokens=MAX_TOKENS)


def li(target: Target) -> LlamaCpp:
    return LlamaCpp(base_url=target.base_url, model=target.chat_model, temperature=0, max_tokens=MAX_TOKENS)


def check_refusal(error: UnsupportedFeatureError, target: Target, status: int, server_message: str) -> None:
    """The typed error carries the server's words and says what to do about it."""
    assert error.status_code == status
    assert error.server_message == server_message
    assert error.base_url == target.base_url
    text = str(error)
    assert "llama.cpp server" in text and target.base_url in text
    assert "--mmproj" in text  # what to do: restart the server with a projector
    assert "remove the image" in text  # or do without the image


def test_image_without_projector_is_refused_with_what_to_do(target: Target, vcr: Any) -> None:
    with pytest.raises(lc_errors.UnsupportedFeatureError) as lc_error:
        lc(target).invoke([IMAGE_MESSAGE])
    with pytest.raises(UnsupportedFeatureError) as stream_error:
        list(lc(target).stream([IMAGE_MESSAGE]))
    message = ChatMessage(
        role=MessageRole.USER, blocks=[TextBlock(text=ASK), ImageBlock(image=RED_PNG, image_mimetype="image/png")]
    )
    with pytest.raises(UnsupportedFeatureError) as li_error:
        li(target).chat([message])
    with pytest.raises(UnsupportedFeatureError) as async_error:
        asyncio.run(li(target).achat([message]))
    # every request carried the image, and every answer was the server's refusal
    bodies = sent(vcr)
    assert len(bodies) == 4
    assert all(b["messages"][-1]["content"][1]["image_url"]["url"] == RED_URL for b in bodies)
    recorded = answers(vcr)
    first = recorded[0]
    assert isinstance(first, dict)
    assert all(r == first for r in recorded)
    status = first["error"]["code"]
    for error in (lc_error.value, stream_error.value, li_error.value, async_error.value):
        check_refusal(error, target, status, first["error"]["message"])


def test_text_alone_still_works_without_projector(target: Target, vcr: Any) -> None:
    reply = lc(target).invoke(ASK)
    (recorded,) = answers(vcr)
    assert isinstance(recorded, dict)
    assert reply.content == recorded["choices"][0]["message"]["content"]
    # the same server and chat template: the vision recordings' prompt, less the image's tokens
    assert recorded["usage"]["prompt_tokens"] == PROMPT_ONE_IMAGE - IMAGE_TOKENS
    assert isinstance(sent(vcr)[0]["messages"][-1]["content"], str)

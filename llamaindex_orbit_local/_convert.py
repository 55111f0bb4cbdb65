"""Pure conversions between LlamaIndex chat messages and orbit_local's neutral types.

Shared by the sync and async paths of every LlamaIndex class; no I/O here.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ImageBlock,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)

from orbit_local.accumulate import StreamAccumulator
from orbit_local.types import ChatResult, Message, ToolCall, Usage

_ROLES: dict[MessageRole, str] = {
    MessageRole.SYSTEM: "system",
    MessageRole.DEVELOPER: "system",
    MessageRole.USER: "user",
    MessageRole.ASSISTANT: "assistant",
    MessageRole.CHATBOT: "assistant",
    MessageRole.MODEL: "assistant",
    MessageRole.TOOL: "tool",
    MessageRole.FUNCTION: "tool",
}


def _image_url(block: ImageBlock) -> str | None:
    if block.url:
        return str(block.url)
    if isinstance(block.image, bytes) and block.image:
        # LlamaIndex keeps image bytes base64-encoded already; raw bytes are encoded here.
        data = block.image
        try:
            base64.b64decode(data, validate=True)
            text = data.decode()
        except ValueError:
            text = base64.b64encode(data).decode()
        return f"data:{block.image_mimetype or 'image/png'};base64,{text}"
    if block.path:
        raw = block.path.read_bytes()
        return f"data:{block.image_mimetype or 'image/png'};base64,{base64.b64encode(raw).decode()}"
    return None


def _tool_calls_of(message: ChatMessage) -> list[ToolCall]:
    calls: list[ToolCall] = []
    for block in message.blocks:
        if isinstance(block, ToolCallBlock):
            kwargs = block.tool_kwargs
            if isinstance(kwargs, str):
                raw = kwargs
                try:
                    parsed = json.loads(kwargs) if kwargs.strip() else {}
                except ValueError:
                    parsed = {}
            else:
                parsed, raw = kwargs, json.dumps(kwargs)
            calls.append(
                ToolCall(id=block.tool_call_id or "", name=block.tool_name, arguments=parsed, raw_arguments=raw)
            )
    return calls


def to_message(message: ChatMessage) -> Message:
    """One LlamaIndex message as a neutral :class:`Message`."""
    role = _ROLES.get(message.role)
    if role is None:
        raise ValueError(f"Unsupported message role {message.role!r}")
    texts: list[str] = []
    images: list[str] = []
    for block in message.blocks:
        if isinstance(block, TextBlock):
            texts.append(block.text)
        elif isinstance(block, ImageBlock):
            url = _image_url(block)
            if url:
                images.append(url)
    return Message(
        role=role,  # type: ignore[arg-type]
        content="".join(texts),
        images=images,
        tool_calls=_tool_calls_of(message) if role == "assistant" else [],
        tool_call_id=message.additional_kwargs.get("tool_call_id") if role == "tool" else None,
        name=message.additional_kwargs.get("name"),
    )


def usage_kwargs(usage: Usage | None) -> dict[str, int]:
    """Token counts under the keys llama-index-llms-openai uses in ``additional_kwargs``."""
    if usage is None:
        return {}
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }


def raw_of(result: ChatResult, provider: str) -> dict[str, Any]:
    """What the response carries besides text: model, finish reason, usage, timings."""
    raw: dict[str, Any] = {"provider": provider, "model": result.model, "finish_reason": result.finish_reason}
    if result.id:
        raw["id"] = result.id
    if result.system_fingerprint:
        raw["system_fingerprint"] = result.system_fingerprint
    if result.usage is not None:
        raw["usage"] = usage_kwargs(result.usage)
    if result.timings:
        raw["timings"] = result.timings
    return raw


def assistant_message(text: str, reasoning: str | None, tool_calls: list[ToolCall]) -> ChatMessage:
    blocks: list[Any] = []
    if reasoning:
        blocks.append(ThinkingBlock(content=reasoning))
    blocks.append(TextBlock(text=text))
    blocks.extend(ToolCallBlock(tool_call_id=c.id, tool_name=c.name, tool_kwargs=c.arguments) for c in tool_calls)
    return ChatMessage(role=MessageRole.ASSISTANT, blocks=blocks)


def to_chat_response(result: ChatResult, provider: str, requested_model: str) -> ChatResponse:
    if result.model is None:
        result.model = requested_model
    return ChatResponse(
        message=assistant_message(result.text, result.reasoning, result.tool_calls),
        raw=raw_of(result, provider),
        additional_kwargs=usage_kwargs(result.usage),
    )


def stream_response(accumulated: StreamAccumulator, delta_text: str) -> ChatResponse:
    """A streamed step: the text so far plus the new piece (the hot path).

    Built with ``model_construct``: these objects are made here from known-good values, and
    pydantic validation of four nested models per token was most of the per-token cost.
    """
    message = ChatMessage.model_construct(
        role=MessageRole.ASSISTANT,
        additional_kwargs={},
        blocks=[TextBlock.model_construct(block_type="text", text=accumulated.text)],
    )
    return ChatResponse.model_construct(
        message=message, delta=delta_text, raw=None, logprobs=None, additional_kwargs={}
    )


def closing_response(accumulated: StreamAccumulator, provider: str, requested_model: str) -> ChatResponse:
    """The last streamed step: whole message, usage and finish reason, with an empty delta."""
    result = accumulated.result()
    return to_chat_response(result, provider, requested_model).model_copy(update={"delta": ""})

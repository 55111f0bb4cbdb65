"""Pure conversions between LangChain messages and orbit_local's neutral types.

No I/O and no model state: ``_generate``, ``_stream`` and their async twins all call these,
so sync and async share every line that is not a network call.
"""

from __future__ import annotations

import json
from typing import Any, cast

from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import invalid_tool_call, tool_call, tool_call_chunk

from orbit_local.accumulate import StreamAccumulator
from orbit_local.types import ChatDelta, ChatResult, Message, ToolCall, Usage

_ROLE_BY_TYPE = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


def _content_text_and_images(content: str | list[Any]) -> tuple[str, list[str]]:
    if isinstance(content, str):
        return content, []
    texts: list[str] = []
    images: list[str] = []
    for block in content:
        if isinstance(block, str):
            texts.append(block)
            continue
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "image_url":
            url = block["image_url"]["url"] if isinstance(block.get("image_url"), dict) else block.get("image_url")
            images.append(str(url))
        elif kind == "image":
            if block.get("url"):
                images.append(str(block["url"]))
            elif block.get("base64") or block.get("data"):
                mime = block.get("mime_type", "image/png")
                images.append(f"data:{mime};base64,{block.get('base64') or block.get('data')}")
    return "".join(texts), images


def to_message(message: BaseMessage) -> Message:
    """One LangChain message as a neutral :class:`Message`."""
    text, images = _content_text_and_images(message.content)
    if isinstance(message, ToolMessage):
        return Message(role="tool", content=text, tool_call_id=message.tool_call_id, name=message.name)
    if isinstance(message, AIMessage):
        calls = [
            ToolCall(
                id=call.get("id") or "",
                name=call["name"],
                arguments=call["args"],
                raw_arguments=json.dumps(call["args"]),
            )
            for call in message.tool_calls
        ]
        return Message(role="assistant", content=text, tool_calls=calls, name=message.name)
    if isinstance(message, SystemMessage):
        return Message(role="system", content=text)
    if isinstance(message, HumanMessage):
        return Message(role="user", content=text, images=images, name=message.name)
    if isinstance(message, ChatMessage):
        role = {"human": "user", "ai": "assistant"}.get(message.role, message.role)
        if role not in ("system", "user", "assistant", "tool"):
            raise ValueError(f"Unsupported chat message role {message.role!r}")
        return Message(role=role, content=text)  # type: ignore[arg-type]
    fallback = _ROLE_BY_TYPE.get(message.type)
    if fallback is None:
        raise ValueError(f"Unsupported message type {type(message).__name__}")
    return Message(role=fallback, content=text)  # type: ignore[arg-type]


def usage_metadata(usage: Usage | None) -> UsageMetadata | None:
    if usage is None:
        return None
    # cast: mypy does not see UsageMetadata's NotRequired detail keys as optional.
    return cast(
        "UsageMetadata",
        {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens, "total_tokens": usage.total_tokens},
    )


def response_metadata(
    provider: str,
    *,
    model: str | None,
    finish_reason: str | None = None,
    system_fingerprint: str | None = None,
    timings: dict[str, Any] | None = None,
    response_id: str | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"model_provider": provider, "model_name": model}
    if finish_reason is not None:
        meta["finish_reason"] = finish_reason
    if system_fingerprint:
        meta["system_fingerprint"] = system_fingerprint
    if timings:
        meta["timings"] = timings
    if response_id:
        meta["id"] = response_id
    return meta


def to_ai_message(result: ChatResult, *, provider: str, requested_model: str) -> AIMessage:
    """A complete answer as an :class:`AIMessage` with usage and metadata filled."""
    calls = [tool_call(name=c.name, args=c.arguments, id=c.id) for c in result.tool_calls if c.parse_error is None]
    invalid = [
        invalid_tool_call(name=c.name, args=c.raw_arguments, id=c.id, error=c.parse_error)
        for c in result.tool_calls
        if c.parse_error is not None
    ]
    additional: dict[str, Any] = {}
    if result.reasoning:
        additional["reasoning_content"] = result.reasoning
    return AIMessage(
        content=result.text,
        additional_kwargs=additional,
        tool_calls=calls,
        invalid_tool_calls=invalid,
        usage_metadata=usage_metadata(result.usage),
        response_metadata=response_metadata(
            provider,
            model=result.model or requested_model,
            finish_reason=result.finish_reason,
            system_fingerprint=result.system_fingerprint,
            timings=result.timings,
            response_id=result.id,
        ),
        id=result.id,
    )


def to_ai_chunk(delta: ChatDelta) -> AIMessageChunk:
    """The content of one streamed delta (the hot path: keep it short).

    Usage and response metadata are not put on per-token chunks: LangChain adds usage and
    concatenates strings when it merges chunks, so they travel once, on :func:`final_chunk`.
    """
    if delta.tool_call_chunks:
        tool_chunks = [
            tool_call_chunk(name=c.name, args=c.arguments, id=c.id, index=c.index) for c in delta.tool_call_chunks
        ]
        return AIMessageChunk(
            content=delta.text,
            additional_kwargs={"reasoning_content": delta.reasoning} if delta.reasoning else {},
            tool_call_chunks=tool_chunks,
        )
    if delta.reasoning:
        return AIMessageChunk(content=delta.text, additional_kwargs={"reasoning_content": delta.reasoning})
    return AIMessageChunk(content=delta.text)


def final_chunk(accumulated: StreamAccumulator, *, provider: str, requested_model: str) -> AIMessageChunk:
    """The closing chunk: usage, finish reason, model and timings, exactly once per stream."""
    return AIMessageChunk(
        content="",
        usage_metadata=usage_metadata(accumulated.usage),
        response_metadata=response_metadata(
            provider,
            model=accumulated.model or requested_model,
            finish_reason=accumulated.finish_reason,
            system_fingerprint=accumulated.system_fingerprint,
            timings=accumulated.timings,
        ),
        chunk_position="last",
    )

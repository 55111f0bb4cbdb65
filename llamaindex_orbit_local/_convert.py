"""Pure conversions between LlamaIndex chat messages and orbit_local's neutral types.

Shared by the sync and async paths of every LlamaIndex class; no I/O here.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from io import IOBase
from typing import Any

from llama_index.core.base.llms.types import (
    AudioBlock,
    CachePoint,
    ChatMessage,
    ChatResponse,
    CitableBlock,
    DocumentBlock,
    ImageBlock,
    LogProb,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)
from llama_index.core.llms.utils import parse_partial_json

from orbit_local.facts.log import warn
from orbit_local.facts.types import ChatDelta, ChatResult, ContentPart, Message, ToolCall, Usage
from orbit_local.protocols.accumulate import StreamAccumulator
from orbit_local.wire.content import text_of
from orbit_local.wire.prefilled import Prefill

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


def _b64(resolved: IOBase) -> str:
    """LlamaIndex's ``resolve_*(as_base64=True)`` gives base64 bytes; we send them as text."""
    return bytes(resolved.read()).decode()


def _image(block: ImageBlock) -> ContentPart:
    if block.url:
        return ContentPart("image", url=str(block.url), detail=block.detail, label="ImageBlock")
    return ContentPart(
        "image",
        data=_b64(block.resolve_image(as_base64=True)),
        mime_type=block.image_mimetype or "image/png",
        detail=block.detail,
        label="ImageBlock",
    )


def _audio(block: AudioBlock) -> ContentPart:
    if block.url and not (block.audio or block.path):
        return ContentPart("unsupported", label="AudioBlock given by URL (input_audio takes base64 bytes)")
    mime = f"audio/{block.format}" if block.format else None
    return ContentPart(
        "audio",
        data=_b64(block.resolve_audio(as_base64=True)),
        format={"mpeg": "mp3"}.get(block.format or "", block.format),
        mime_type=mime,
        label="AudioBlock",
    )


def _document(block: DocumentBlock) -> ContentPart:
    raw = block.resolve_document().read()
    return ContentPart(
        "file",
        data=base64.b64encode(raw).decode(),
        mime_type=block.document_mimetype or "application/pdf",
        filename=block.title,
        label="DocumentBlock",
    )


def content_parts(blocks: Sequence[Any]) -> list[ContentPart]:
    """LlamaIndex blocks as parts, in order. Tool calls travel apart; thinking is never sent
    back to a model; a ``CachePoint`` has no meaning for local servers and is reported."""
    parts: list[ContentPart] = []
    for block in blocks:
        if isinstance(block, TextBlock):
            parts.append(ContentPart("text", text=block.text))
        elif isinstance(block, ImageBlock):
            parts.append(_image(block))
        elif isinstance(block, AudioBlock):
            parts.append(_audio(block))
        elif isinstance(block, DocumentBlock):
            parts.append(_document(block))
        elif isinstance(block, CitableBlock):
            parts.extend(content_parts(block.content))
        elif isinstance(block, (ToolCallBlock, ThinkingBlock)):
            continue
        elif isinstance(block, CachePoint):
            warn(
                "CachePoint blocks steer prompt caching of hosted APIs; local servers have none, so it is not sent",
                UserWarning,
            )
        else:
            parts.append(ContentPart("unsupported", label=type(block).__name__))
    return parts


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
    blocks = message.blocks
    if len(blocks) == 1 and type(blocks[0]) is TextBlock:  # the common case: one text, as it is
        text = blocks[0].text
        parts = [ContentPart("text", text=text)]
    else:
        parts = content_parts(blocks)
        text = text_of(parts)
    return Message(
        role=role,  # type: ignore[arg-type]
        content=text,
        parts=parts,
        tool_calls=_tool_calls_of(message) if role == "assistant" else [],
        tool_call_id=message.additional_kwargs.get("tool_call_id") if role == "tool" else None,
        name=message.additional_kwargs.get("name"),
        reasoning=_reasoning_of(message) if role == "assistant" else None,
    )


def _reasoning_of(message: ChatMessage) -> str | None:
    """An assistant turn's reasoning: its ``ThinkingBlock``s in order (how this package and
    llama-index-llms-openai keep it), else ``additional_kwargs["reasoning_content"]``."""
    thoughts = [block.content for block in message.blocks if isinstance(block, ThinkingBlock) and block.content]
    if thoughts:
        return "".join(thoughts)
    kept = message.additional_kwargs.get("reasoning_content")
    return kept if isinstance(kept, str) and kept else None


def usage_kwargs(usage: Usage | None) -> dict[str, int]:
    """Token counts under the keys llama-index-llms-openai uses in ``additional_kwargs``."""
    if usage is None:
        return {}
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }


def response_kwargs(result: ChatResult, provider: str) -> dict[str, Any]:
    """``additional_kwargs`` of a response: usage under llama-index-llms-openai's keys, plus
    what the answer says about itself (provider, model, finish reason, timings, and every
    choice when ``n`` > 1). The server's own JSON is ``raw``."""
    kwargs: dict[str, Any] = {
        **usage_kwargs(result.usage),
        "provider": provider,
        "model": result.model,
        "finish_reason": result.finish_reason,
    }
    if result.id:
        kwargs["id"] = result.id
    if result.system_fingerprint:
        kwargs["system_fingerprint"] = result.system_fingerprint
    if result.timings:
        kwargs["timings"] = result.timings
    if result.alternatives:
        kwargs["choices"] = [{"text": r.text, "finish_reason": r.finish_reason} for r in (result, *result.alternatives)]
    return kwargs


def logprobs_of(entries: list[dict[str, Any]] | None) -> list[list[LogProb]] | None:
    """LlamaIndex's shape: per token, its top alternatives (or the token itself)."""
    if not entries:
        return None
    shaped: list[list[LogProb]] = []
    for entry in entries:
        options = entry.get("top_logprobs") or [entry]
        shaped.append(
            [
                LogProb(token=str(o.get("token", "")), logprob=float(o.get("logprob", 0.0)), bytes=o.get("bytes") or [])
                for o in options
                if isinstance(o, dict)
            ]
        )
    return shaped


def _tool_call_block(call: ToolCall) -> ToolCallBlock:
    """A tool call as LlamaIndex's block; while a call streams in, its arguments are the
    partial JSON so far, read as far as it goes (``{}`` until then)."""
    arguments: Any = call.arguments
    if call.parse_error and call.raw_arguments:
        try:
            arguments = parse_partial_json(call.raw_arguments)
        except ValueError:
            arguments = {}
    return ToolCallBlock(tool_call_id=call.id, tool_name=call.name, tool_kwargs=arguments)


def assistant_message(text: str, reasoning: str | None, tool_calls: list[ToolCall]) -> ChatMessage:
    blocks: list[Any] = []
    if reasoning:
        blocks.append(ThinkingBlock(content=reasoning))
    blocks.append(TextBlock(text=text))
    blocks.extend(_tool_call_block(call) for call in tool_calls)
    return ChatMessage(role=MessageRole.ASSISTANT, blocks=blocks)


_ASSISTANT = MessageRole.ASSISTANT  # an enum member looked up once, not per token
_TEXT = Prefill(TextBlock, {"text": ""}, {"text": "probe"})
_MESSAGE = Prefill(
    ChatMessage,
    {"role": MessageRole.ASSISTANT, "blocks": [TextBlock(text="")]},
    {"role": MessageRole.ASSISTANT, "blocks": [TextBlock(text="probe")]},
)
_STEP: dict[str, Any] = {"message": ChatMessage(role=MessageRole.ASSISTANT), "logprobs": None, "additional_kwargs": {}}
_RESPONSE = Prefill(ChatResponse, {**_STEP, "delta": "", "raw": None}, {**_STEP, "delta": "p", "raw": {"n": 1}})
_ANSWER = Prefill(
    ChatResponse,
    {"message": _STEP["message"], "raw": None, "logprobs": None, "additional_kwargs": {}},
    {"message": _STEP["message"], "raw": {"n": 1}, "logprobs": None, "additional_kwargs": {"model": "m"}},
)


def to_chat_response(result: ChatResult, provider: str) -> ChatResponse:
    """A whole answer. A text-only one is filled without validation, as a streamed step is
    (:mod:`orbit_local.wire.prefilled`); reasoning or tool calls get the validated blocks."""
    if result.reasoning or result.tool_calls:
        message = assistant_message(result.text, result.reasoning, result.tool_calls)
    else:
        message = _MESSAGE.fill(role=_ASSISTANT, blocks=[_TEXT.fill(text=result.text)])
    return _ANSWER.fill(
        message=message,
        raw=result.raw,
        logprobs=logprobs_of(result.logprobs) if result.logprobs else None,
        additional_kwargs=response_kwargs(result, provider),
    )


def stream_response(accumulated: StreamAccumulator, delta: ChatDelta) -> ChatResponse:
    """A streamed step: the message so far plus the new piece (the hot path).

    As llama-index-llms-openai streams: the message holds a ``ThinkingBlock`` with the
    reasoning so far and ``ToolCallBlock``s with the tool calls so far, and the new piece of
    reasoning is ``additional_kwargs["thinking_delta"]`` (what ``FunctionAgent`` puts on its
    ``AgentStream`` events). A plain text step is built without validation
    (:mod:`orbit_local.wire.prefilled`): validating three nested models per token was most of the
    per-token cost.
    """
    if not accumulated.text_only:  # ``delta`` is folded in already
        message = assistant_message(accumulated.text, accumulated.reasoning, accumulated.tool_calls())
        return ChatResponse(
            message=message,
            delta=delta.text,
            raw=delta.raw,
            logprobs=logprobs_of(delta.logprobs),
            additional_kwargs={"thinking_delta": delta.reasoning} if delta.reasoning else {},
        )
    return _RESPONSE.fill(
        message=_MESSAGE.fill(role=_ASSISTANT, blocks=[_TEXT.fill(text=accumulated.text)]),
        delta=delta.text,
        raw=delta.raw,
        logprobs=logprobs_of(delta.logprobs) if delta.logprobs else None,
        additional_kwargs={},
    )


def closing_response(result: ChatResult, provider: str) -> ChatResponse:
    """The last streamed step: whole message, usage and finish reason, with an empty delta."""
    return to_chat_response(result, provider).model_copy(update={"delta": ""})

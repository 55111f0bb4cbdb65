"""Pure conversions between LangChain messages and orbit_local's neutral types.

No I/O and no model state: ``_generate``, ``_stream`` and their async twins all call these,
so sync and async share every line that is not a network call.
"""

from __future__ import annotations

import base64
import json
from typing import Any, cast

from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    InvalidToolCall,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages import ToolCall as LangChainToolCall
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import invalid_tool_call, tool_call, tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk

from orbit_local.facts.types import ChatDelta, ChatResult, ContentPart, Message, ToolCall, Usage
from orbit_local.wire.content import text_of
from orbit_local.wire.prefilled import Prefill

_ROLE_BY_TYPE = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


# Blocks that describe the model's own output: tool calls travel in ``tool_calls``, and
# reasoning in the message's reasoning field (sent back where the server takes it).
_NOT_CONTENT = frozenset({"reasoning", "thinking", "tool_call", "tool_call_chunk", "invalid_tool_call", "tool_use"})


def _data(block: dict[str, Any]) -> str | None:
    """Base64 payload of a v1 block (``base64``) or a v0 one (``source_type: "base64"``)."""
    if block.get("base64"):
        return str(block["base64"])
    if block.get("data") and block.get("source_type", "base64") == "base64":
        return str(block["data"])
    return None


def _url(block: dict[str, Any]) -> str | None:
    url = block.get("url") or (block.get("data") if block.get("source_type") == "url" else None)
    return str(url) if url else None


def _extra(block: dict[str, Any], key: str) -> Any:
    """A field LangChain keeps at the top level, in ``extras`` or (older) in ``metadata``."""
    for holder in (block, block.get("extras") or {}, block.get("metadata") or {}):
        if isinstance(holder, dict) and holder.get(key) is not None:
            return holder[key]
    return None


def _image(block: dict[str, Any]) -> ContentPart:
    detail = _extra(block, "detail")
    if block.get("type") == "image_url":
        value = block.get("image_url")
        url = value.get("url") if isinstance(value, dict) else value
        detail = value.get("detail") if isinstance(value, dict) else detail
        return ContentPart("image", url=str(url), detail=detail, label="image_url")
    if _url(block):
        return ContentPart("image", url=_url(block), detail=detail, label="image")
    if _data(block):
        return ContentPart("image", data=_data(block), mime_type=block.get("mime_type"), detail=detail, label="image")
    return ContentPart("unsupported", label="image given by file id (chat APIs take the bytes or a URL)")


def _audio(block: dict[str, Any]) -> ContentPart:
    if block.get("type") == "input_audio":
        value = block.get("input_audio") or {}
        return ContentPart("audio", data=value.get("data"), format=value.get("format"), label="input_audio")
    if _data(block):
        return ContentPart("audio", data=_data(block), mime_type=block.get("mime_type"), label="audio")
    return ContentPart("unsupported", label="audio given by URL or id (input_audio takes base64 bytes)")


def _file(block: dict[str, Any]) -> ContentPart:
    wrapped = block.get("file")
    if isinstance(wrapped, dict):  # the OpenAI shape: {"type": "file", "file": {...}}
        return ContentPart(
            "file",
            url=wrapped.get("file_data"),
            file_id=wrapped.get("file_id"),
            filename=wrapped.get("filename"),
            label="file",
        )
    filename = _extra(block, "filename") or _extra(block, "name") or _extra(block, "title")
    if _data(block):
        return ContentPart("file", data=_data(block), mime_type=block.get("mime_type"), filename=filename, label="file")
    if block.get("file_id") or (block.get("id") and block.get("source_type") == "id"):
        return ContentPart("file", file_id=str(block.get("file_id") or block.get("id")), label="file")
    return ContentPart("unsupported", label="file given by URL (file parts take the bytes or a file id)")


def _plain_text(block: dict[str, Any]) -> ContentPart:
    text = block.get("text")
    if text is None and _data(block):
        text = base64.b64decode(str(_data(block))).decode("utf-8", errors="replace")
    if text is None:
        return ContentPart("unsupported", label="text-plain without its text")
    return ContentPart("text", text=str(text), label="text-plain")


def content_parts(content: str | list[Any]) -> list[ContentPart]:
    """LangChain content (a string, or blocks in the v0, v1 or OpenAI shapes) as parts, in order."""
    if isinstance(content, str):
        return [ContentPart("text", text=content)] if content else []
    parts: list[ContentPart] = []
    for block in content:
        if isinstance(block, str):
            parts.append(ContentPart("text", text=block))
            continue
        kind = block.get("type") if isinstance(block, dict) else None
        if not isinstance(block, dict) or kind in _NOT_CONTENT:
            continue
        if kind == "text":
            parts.append(ContentPart("text", text=str(block.get("text", ""))))
        elif kind == "text-plain":
            parts.append(_plain_text(block))
        elif kind in ("image", "image_url"):
            parts.append(_image(block))
        elif kind in ("audio", "input_audio"):
            parts.append(_audio(block))
        elif kind == "file":
            parts.append(_file(block))
        elif kind == "non_standard" and isinstance(block.get("value"), dict):
            parts.append(ContentPart("raw", raw=block["value"], label="non_standard"))
        else:
            parts.append(ContentPart("unsupported", label=str(kind)))
    return parts


def _content(message: BaseMessage) -> tuple[str, list[ContentPart]]:
    content = message.content
    if isinstance(content, str):  # the common case, read without a parts round trip
        return content, [ContentPart("text", text=content)] if content else []
    parts = content_parts(content)
    return text_of(parts), parts


def to_message(message: BaseMessage) -> Message:
    """One LangChain message as a neutral :class:`Message`."""
    text, parts = _content(message)
    if type(message) is HumanMessage:  # the usual prompt, told apart without the ABC checks below
        return Message(role="user", content=text, name=message.name, parts=parts)
    if isinstance(message, ToolMessage):
        return Message(role="tool", content=text, tool_call_id=message.tool_call_id, name=message.name, parts=parts)
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
        reasoning = reasoning_of(message)
        return Message(
            role="assistant", content=text, tool_calls=calls, name=message.name, parts=parts, reasoning=reasoning
        )
    if isinstance(message, SystemMessage):
        return Message(role="system", content=text, parts=parts)
    if isinstance(message, HumanMessage):
        return Message(role="user", content=text, name=message.name, parts=parts)
    if isinstance(message, ChatMessage):
        role = {"human": "user", "ai": "assistant"}.get(message.role, message.role)
        if role not in ("system", "user", "assistant", "tool"):
            raise ValueError(f"Unsupported chat message role {message.role!r}")
        return Message(role=role, content=text, parts=parts)  # type: ignore[arg-type]
    fallback = _ROLE_BY_TYPE.get(message.type)
    if fallback is None:
        raise ValueError(f"Unsupported message type {type(message).__name__}")
    return Message(role=fallback, content=text, parts=parts)  # type: ignore[arg-type]


def reasoning_of(message: AIMessage) -> str | None:
    """An assistant turn's reasoning: ``additional_kwargs["reasoning_content"]`` (where this
    package and other OpenAI-style integrations put it), else its reasoning content blocks in
    order (LangChain's ``reasoning``, Anthropic-style ``thinking``, OpenAI summaries)."""
    kept = message.additional_kwargs.get("reasoning_content")
    if isinstance(kept, str) and kept:
        return kept
    if isinstance(message.content, str):
        return None
    pieces: list[str] = []
    for block in message.content:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "reasoning":
            if isinstance(block.get("reasoning"), str):
                pieces.append(block["reasoning"])
            for summary in block.get("summary") or []:
                if isinstance(summary, dict) and isinstance(summary.get("text"), str):
                    pieces.append(summary["text"])
        elif block.get("type") == "thinking" and isinstance(block.get("thinking"), str):
            pieces.append(block["thinking"])
    return "".join(pieces) or None


def usage_metadata(usage: Usage | None) -> UsageMetadata | None:
    if usage is None:
        return None
    # cast: mypy does not see UsageMetadata's NotRequired detail keys as optional.
    return cast(
        "UsageMetadata",
        {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens, "total_tokens": usage.total_tokens},
    )


def response_metadata(result: ChatResult, provider: str, *, logprobs: bool = True) -> dict[str, Any]:
    """What an answer says about itself, as LangChain's ``response_metadata``. A stream's
    closing chunk leaves the logprobs out (``logprobs=False``): they went out per chunk."""
    meta: dict[str, Any] = {"model_provider": provider, "model_name": result.model}
    if logprobs and result.logprobs:
        meta["logprobs"] = {"content": result.logprobs}  # as ChatOpenAI keeps them
    if result.finish_reason is not None:
        meta["finish_reason"] = result.finish_reason
    if result.system_fingerprint:
        meta["system_fingerprint"] = result.system_fingerprint
    if result.timings:
        meta["timings"] = result.timings
    if result.id:
        meta["id"] = result.id
    return meta


_TEXT_ANSWER = Prefill(
    AIMessage,
    {
        "content": "",
        "additional_kwargs": {},
        "tool_calls": [],
        "invalid_tool_calls": [],
        "usage_metadata": None,
        "response_metadata": {},
        "id": None,
    },
    {
        "content": "probe",
        "additional_kwargs": {},
        "tool_calls": [],
        "invalid_tool_calls": [],
        "usage_metadata": {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3},
        "response_metadata": {"model_provider": "probe", "model_name": "m", "finish_reason": "stop", "id": "c"},
        "id": "chatcmpl-probe",
    },
)
_GENERATION_OF_ANSWER = Prefill(
    ChatGeneration,
    {"text": "", "message": AIMessage(content="")},
    {"text": "probe", "message": AIMessage(content="probe")},
)


def to_generation(result: ChatResult, *, provider: str) -> ChatGeneration:
    """``ChatGeneration(message=to_ai_message(result))``. A text answer is filled without
    validation where :mod:`orbit_local.wire.prefilled` found that safe for the installed
    langchain-core (the generation's ``text`` is the message's, as its validator sets it);
    an answer with tool calls or reasoning is validated."""
    if result.tool_calls or result.reasoning:
        return ChatGeneration(message=to_ai_message(result, provider=provider))
    message = _TEXT_ANSWER.fill(
        content=result.text,
        additional_kwargs={},
        tool_calls=[],
        invalid_tool_calls=[],
        usage_metadata=usage_metadata(result.usage),
        response_metadata=response_metadata(result, provider),
        id=result.id,
    )
    return _GENERATION_OF_ANSWER.fill(text=result.text, message=message)


def to_ai_message(result: ChatResult, *, provider: str) -> AIMessage:
    """A complete answer as an :class:`AIMessage` with usage and metadata filled."""
    calls: list[LangChainToolCall] = []
    invalid: list[InvalidToolCall] = []
    for c in result.tool_calls:
        if c.parse_error is None:
            calls.append(tool_call(name=c.name, args=c.arguments, id=c.id))
        else:
            invalid.append(invalid_tool_call(name=c.name, args=c.raw_arguments, id=c.id, error=c.parse_error))
    additional: dict[str, Any] = {}
    if result.reasoning:
        additional["reasoning_content"] = result.reasoning
    return AIMessage(
        content=result.text,
        additional_kwargs=additional,
        tool_calls=calls,
        invalid_tool_calls=invalid,
        usage_metadata=usage_metadata(result.usage),
        response_metadata=response_metadata(result, provider),
        id=result.id,
    )


_MESSAGE = Prefill(AIMessageChunk, {"content": ""}, {"content": "probe"})
_GENERATION = Prefill(
    ChatGenerationChunk,
    {"text": "", "message": AIMessageChunk(content="")},
    {"text": "probe", "message": AIMessageChunk(content="probe")},
)


def _text_chunk(text: str) -> ChatGenerationChunk:
    """``ChatGenerationChunk(message=AIMessageChunk(content=text))``, without validation where
    :mod:`orbit_local.wire.prefilled` found that safe for the installed langchain-core."""
    return _GENERATION.fill(text=text, message=_MESSAGE.fill(content=text))


def to_generation_chunk(delta: ChatDelta) -> ChatGenerationChunk:
    """The generation chunk of one streamed delta (the hot path: keep it short).

    Usage and response metadata are not put on per-token chunks: LangChain adds usage and
    concatenates strings when it merges chunks, so they travel once, on :func:`final_chunk`.
    """
    if not (delta.tool_call_chunks or delta.reasoning or delta.logprobs):
        return _text_chunk(delta.text)
    return ChatGenerationChunk(message=to_ai_chunk(delta))


def to_ai_chunk(delta: ChatDelta) -> AIMessageChunk:
    """The message of a streamed delta that carries more than text."""
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
    if delta.logprobs:
        # Per chunk, as ChatOpenAI does: merging chunks concatenates the "content" lists.
        return AIMessageChunk(content=delta.text, response_metadata={"logprobs": {"content": delta.logprobs}})
    return AIMessageChunk(content=delta.text)


def final_chunk(result: ChatResult, *, provider: str) -> AIMessageChunk:
    """The closing chunk: usage, finish reason, model, timings and the server's id of the whole
    stream (its :class:`~orbit_local.facts.types.ChatResult`), exactly once per stream. The id makes
    the merged message's ``id`` the server's, as ``invoke`` gives it (LangChain prefers a
    provider's id to its own ``lc_run-`` ones when chunks are added)."""
    return AIMessageChunk(
        content="",
        usage_metadata=usage_metadata(result.usage),
        response_metadata=response_metadata(result, provider, logprobs=False),
        id=result.id,
        chunk_position="last",
    )

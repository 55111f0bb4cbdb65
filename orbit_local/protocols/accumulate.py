"""Fold a stream of :class:`ChatDelta` objects into one :class:`ChatResult`.

Shared by both adapters and by the emulated-stream path, so "what did the whole stream say"
has exactly one definition. Tool-call fragments are merged by index: ids are kept as first
sent, a name that a server repeats in every chunk (llama-cpp-python) is not concatenated,
and argument fragments are joined.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from orbit_local.facts.types import ChatDelta, ChatResult, ToolCall, ToolCallChunk, Usage
from orbit_local.protocols.common import parse_arguments, stable_tool_call_id


@dataclass(slots=True)
class _PartialCall:
    id: str | None = None
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class StreamAccumulator:
    """Collects deltas; :meth:`result` returns what the stream said as a whole."""

    __slots__ = (
        "_calls",
        "_reasoning",
        "_text",
        "finish_reason",
        "id",
        "logprobs",
        "model",
        "raw",
        "system_fingerprint",
        "text_only",
        "timings",
        "usage",
    )

    def __init__(self) -> None:
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._calls: dict[int, _PartialCall] = {}
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.model: str | None = None
        self.id: str | None = None
        self.system_fingerprint: str | None = None
        self.timings: dict[str, Any] | None = None
        self.logprobs: list[dict[str, Any]] = []
        self.raw: Any = None
        self.text_only = True
        """True while every delta folded in carried no reasoning and no tool call: a plain
        attribute, read once per streamed token (LlamaIndex's steps)."""

    @property
    def text(self) -> str:
        if len(self._text) > 1:
            self._text = ["".join(self._text)]  # joined once, not again on every read
        return self._text[0] if self._text else ""

    @property
    def reasoning(self) -> str:
        """The reasoning so far."""
        if len(self._reasoning) > 1:
            self._reasoning = ["".join(self._reasoning)]
        return self._reasoning[0] if self._reasoning else ""

    def add(self, delta: ChatDelta) -> ChatDelta:
        """Fold ``delta`` in and return it as it is to be passed on.

        That is ``delta`` itself, or, where a server repeats a tool call's name or id in every
        chunk (llama-cpp-python), a copy in which they appear only in the first chunk:
        frameworks that merge chunks themselves (LangChain concatenates names) then merge them
        right. ``delta`` is never changed.
        """
        if delta.text:
            self._text.append(delta.text)
        if delta.reasoning:
            self._reasoning.append(delta.reasoning)
            self.text_only = False
        if delta.tool_call_chunks:
            self.text_only = False
            chunks = [self._merge_call(chunk) for chunk in delta.tool_call_chunks]
            if any(new is not old for new, old in zip(chunks, delta.tool_call_chunks, strict=True)):
                delta = replace(delta, tool_call_chunks=chunks)
        if delta.finish_reason is not None:
            self.finish_reason = delta.finish_reason
        if delta.usage is not None:
            self.usage = delta.usage
        if delta.model and self.model is None:
            self.model = delta.model
        if delta.id and self.id is None:
            self.id = delta.id
        if delta.system_fingerprint:
            self.system_fingerprint = delta.system_fingerprint
        if delta.timings:
            self.timings = delta.timings
        if delta.logprobs:
            self.logprobs.extend(delta.logprobs)
        if delta.raw is not None:
            self.raw = delta.raw
        return delta

    def _merge_call(self, chunk: ToolCallChunk) -> ToolCallChunk:
        """Merge ``chunk``; return it, or a copy without a repeated id or name."""
        call = self._calls.get(chunk.index)
        if call is None:
            call = self._calls[chunk.index] = _PartialCall()
        repeated_id = repeated_name = False
        if chunk.id:
            if call.id is None:
                call.id = chunk.id
            elif chunk.id == call.id:
                repeated_id = True  # already passed on
        if chunk.name:
            if chunk.name == call.name:
                repeated_name = True  # a repeated name is the same call (llama-cpp-python)
            else:
                call.name += chunk.name  # the first piece, or the rest of a split name
        if chunk.arguments:
            call.arguments.append(chunk.arguments)
        if repeated_id or repeated_name:
            return replace(chunk, id=None if repeated_id else chunk.id, name=None if repeated_name else chunk.name)
        return chunk

    def tool_calls(self) -> list[ToolCall]:
        calls = []
        for index in sorted(self._calls):
            partial = self._calls[index]
            raw = "".join(partial.arguments)
            arguments, raw, error = parse_arguments(raw)
            call_id = partial.id if partial.id is not None else stable_tool_call_id(partial.name, raw, index)
            calls.append(
                ToolCall(id=call_id, name=partial.name, arguments=arguments, raw_arguments=raw, parse_error=error)
            )
        return calls

    def result(self) -> ChatResult:
        return ChatResult(
            text=self.text,
            model=self.model,
            finish_reason=self.finish_reason,
            reasoning=self.reasoning or None,
            tool_calls=self.tool_calls(),
            usage=self.usage,
            id=self.id,
            system_fingerprint=self.system_fingerprint,
            timings=self.timings,
            logprobs=self.logprobs or None,
            raw=self.raw,
        )


def deltas_from_result(result: ChatResult) -> list[ChatDelta]:
    """One delta carrying a whole result: streaming emulated for servers that cannot stream."""
    chunks = [
        ToolCallChunk(index=i, id=call.id, name=call.name, arguments=call.raw_arguments or "")
        for i, call in enumerate(result.tool_calls)
    ]
    return [
        ChatDelta(
            text=result.text,
            reasoning=result.reasoning or "",
            tool_call_chunks=chunks or None,
            finish_reason=result.finish_reason,
            usage=result.usage,
            model=result.model,
            id=result.id,
            system_fingerprint=result.system_fingerprint,
            timings=result.timings,
            logprobs=result.logprobs,
            raw=result.raw,
        )
    ]

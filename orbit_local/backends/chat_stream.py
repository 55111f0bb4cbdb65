"""One streamed answer as an object that owns its result.

``client.stream(request)`` returns a :class:`ChatStream` (or :class:`AsyncChatStream`). Iterating
it yields the deltas as they arrive, each folded into the stream's own accumulator on the way;
:meth:`ChatStream.result` is then what the stream said as a whole, with the model filled in
from the request where the server did not name it. A stream cut in the middle raises with
``partial_text`` already set, so no adapter has to remember to do it.

A yielded delta is never changed afterwards: where a server repeats a tool call's name or id
in every chunk, the accumulator hands on a copy without the repetition (frameworks that merge
chunks themselves, like LangChain, concatenate names), and the server's delta is left as it was.

Both classes are context managers: leaving the block closes the HTTP stream at once, which on
KoboldCpp also aborts the generation.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from types import TracebackType

from orbit_local.facts.errors import StreamInterruptedError
from orbit_local.facts.types import ChatDelta, ChatResult
from orbit_local.net.stream_scope import track
from orbit_local.protocols.accumulate import StreamAccumulator


class _StreamResult:
    """The non-I/O half both streams share: the accumulator and the requested model."""

    __slots__ = ("accumulated", "model")

    def __init__(self, model: str, accumulated: StreamAccumulator | None) -> None:
        self.accumulated = accumulated if accumulated is not None else StreamAccumulator()
        self.model = model
        """The model the request named: the answer's model where the server names none."""

    @property
    def text(self) -> str:
        """The answer text so far."""
        return self.accumulated.text

    def result(self) -> ChatResult:
        """What the stream said as a whole (call it after the last delta)."""
        result = self.accumulated.result()
        if result.model is None:
            result.model = self.model
        return result


class ChatStream(_StreamResult):
    """A synchronous streamed answer: iterate for deltas, then read :meth:`result`."""

    __slots__ = ("_deltas",)

    def __init__(
        self, deltas: Generator[ChatDelta, None, None], model: str, accumulated: StreamAccumulator | None = None
    ) -> None:
        super().__init__(model, accumulated)
        self._deltas = deltas

    def __iter__(self) -> ChatStream:
        return self

    def __next__(self) -> ChatDelta:
        try:
            delta = next(self._deltas)
        except StreamInterruptedError as error:
            error.partial_text = self.accumulated.text
            raise
        return self.accumulated.add(delta)

    def close(self) -> None:
        """Stop reading: the connection closes (and the generation is aborted where it can be)."""
        self._deltas.close()

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


class AsyncChatStream(_StreamResult):
    """The asynchronous twin of :class:`ChatStream`."""

    __slots__ = ("_closed", "_deltas")

    def __init__(
        self, deltas: AsyncGenerator[ChatDelta, None], model: str, accumulated: StreamAccumulator | None = None
    ) -> None:
        super().__init__(model, accumulated)
        self._deltas = deltas
        self._closed = False
        track(self)  # closed with the adapter's stream that opened it (orbit_local.net.stream_scope)

    def __aiter__(self) -> AsyncChatStream:
        return self

    async def __anext__(self) -> ChatDelta:
        try:
            delta = await self._deltas.__anext__()
        except StreamInterruptedError as error:
            error.partial_text = self.accumulated.text
            raise
        return self.accumulated.add(delta)

    async def aclose(self) -> None:
        """Stop reading: the connection closes (and the generation is aborted where it can be).

        Once only: a second call returns at once. An adapter's stream is closed by
        :func:`~orbit_local.net.stream_scope.closing_streams`, and again, later, by the event loop
        finalising the framework's generator that held it, possibly while the first close is
        still awaiting the connection; a second ``aclose()`` of the generator would then fail
        ("asynchronous generator is already running")."""
        if self._closed:
            return
        self._closed = True
        await self._deltas.aclose()

    async def __aenter__(self) -> AsyncChatStream:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()

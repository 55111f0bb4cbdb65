"""Close an adapter's async stream at once, whatever the framework wraps around it.

LangChain's ``BaseChatModel.astream`` and LlamaIndex's ``llm_chat_callback`` iterate our async
generators with a plain ``async for``: when the caller calls ``aclose()`` on what they hold,
the generator inside is only dropped. Python then leaves it to the event loop, which closes it
in a task scheduled for later; if the loop ends first (``asyncio.run`` returning right after),
the HTTP response is never closed.

:func:`closing_streams` is wrapped around what the framework returns. While it steps the
framework's generator, every :class:`~orbit_local.backends.chat_stream.AsyncChatStream` opened in that
step is recorded (:func:`track`, through a context variable, so concurrent tasks never see
each other's streams); when it ends, for whatever reason, it closes them, and with them their
HTTP responses, before ``aclose()`` returns.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import AsyncExitStack
from contextvars import ContextVar
from typing import Protocol, TypeVar

T = TypeVar("T")


class AsyncClosable(Protocol):
    async def aclose(self) -> None: ...


_SCOPE: ContextVar[list[AsyncClosable] | None] = ContextVar("orbit_local_stream_scope", default=None)


def track(stream: AsyncClosable) -> None:
    """Record ``stream`` in the :func:`closing_streams` step running now, if there is one."""
    scope = _SCOPE.get()
    if scope is not None:
        scope.append(stream)


async def closing_streams(inner: AsyncIterator[T]) -> AsyncGenerator[T, None]:
    """Yield what ``inner`` yields; on the way out close ``inner`` and every stream opened
    while it ran.

    The context variable is set around each step only, never across a ``yield``: a generator
    runs in its caller's context, and a value left set there would leak into the caller's code.
    """
    opened: list[AsyncClosable] = []
    try:
        while True:
            token = _SCOPE.set(opened)
            try:
                item = await inner.__anext__()
            except StopAsyncIteration:
                return
            finally:
                _SCOPE.reset(token)
            yield item
    finally:
        async with AsyncExitStack() as closing:  # all of them, the last opened first, errors kept
            for stream in opened:
                closing.push_async_callback(stream.aclose)
            aclose = getattr(inner, "aclose", None)
            if aclose is not None:
                await aclose()

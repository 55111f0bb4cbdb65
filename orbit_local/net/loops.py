"""What belongs to one event loop: an async connection pool, an ``asyncio.Lock``.

A model outlives event loops: ``asyncio.run`` twice in a script, a notebook, pytest-asyncio's
loop per test, a web server's loop per worker thread. An ``httpx.AsyncClient``'s connections
are transports of the loop that opened them (reused on another loop: ``RuntimeError: Event
loop is closed``), and an ``asyncio.Lock`` binds to the first loop that waits on it. So each
loop gets its own (:class:`PerLoop`); a closed loop's is dropped, never reused.

A pool is closed on its own loop (:class:`LoopFinalizer`): when that loop shuts down, when
the pool's owner is garbage-collected while the loop still runs, or on ``aclose()``. Nothing
here touches a loop that is already closed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import suppress
from typing import Generic, TypeVar

T = TypeVar("T")
_CLOSING: set[asyncio.Task[None]] = set()


def _keep(_: object) -> None:
    """The default for :class:`PerLoop`'s ``drop``: nothing to release."""


class PerLoop(Generic[T]):
    """One ``T`` per running event loop, made on first use in that loop. Thread-safe.

    ``drop`` receives the value of a loop found closed (it must not use that loop).
    """

    __slots__ = ("_drop", "_items", "_lock", "_make")

    def __init__(self, make: Callable[[], T], drop: Callable[[T], None] = _keep) -> None:
        self._make = make
        self._drop = drop
        self._items: dict[asyncio.AbstractEventLoop, T] = {}
        self._lock = threading.Lock()

    def get(self) -> T:
        """The running loop's value (``RuntimeError`` outside a running loop)."""
        loop = asyncio.get_running_loop()
        item = self._items.get(loop)  # the hot path: one dict read, no lock
        if item is not None:
            return item
        with self._lock:
            dead = self._take_closed()
            item = self._items.get(loop)
            if item is None:
                item = self._items[loop] = self._make()
        for value in dead:
            self._drop(value)
        return item

    def take_all(self) -> list[tuple[asyncio.AbstractEventLoop, T]]:
        """Every live loop's value, removed (to be closed); closed loops' values are dropped."""
        with self._lock:
            dead = self._take_closed()
            items, self._items = list(self._items.items()), {}
        for value in dead:
            self._drop(value)
        return items

    def _take_closed(self) -> list[T]:
        closed = [loop for loop in self._items if loop.is_closed()]
        return [self._items.pop(loop) for loop in closed]


async def _closing_at_end(close: Callable[[], Awaitable[None]], forgotten: list[bool]) -> AsyncGenerator[None, None]:
    """Suspended for the life of a resource; runs ``close()`` when it is closed or collected."""
    try:
        yield
    finally:
        if not forgotten[0]:
            with suppress(Exception):  # a failing close must not disturb the loop's shutdown
                await close()


class LoopFinalizer:
    """Runs ``close()`` once, on the event loop that is running when this is made.

    It is an async generator registered with that loop through the asyncgen hooks of PEP 525,
    which is what makes the loop itself close the resource in time: ``asyncio.run``,
    ``asyncio.Runner`` and pytest-asyncio call ``loop.shutdown_asyncgens()`` before closing a
    loop, which closes every such generator still suspended; and when the generator is
    garbage-collected (its owner was forgotten) while the loop runs, the loop's finalizer hook
    closes it on that loop, from whichever thread collected it.
    """

    __slots__ = ("_agen", "_forgotten", "_loop")

    def __init__(self, close: Callable[[], Awaitable[None]]) -> None:
        self._loop = asyncio.get_running_loop()
        self._forgotten = [False]
        self._agen = _closing_at_end(close, self._forgotten)
        step = self._agen.asend(None)  # the first step calls the loop's firstiter hook
        try:
            step.send(None)
        except StopIteration:
            pass  # suspended at its yield, as intended
        else:  # pragma: no cover - the generator yields at once
            raise RuntimeError("LoopFinalizer: the generator did not suspend")

    async def aclose(self) -> None:
        """Close now; await it on the loop this was made on."""
        await self._agen.aclose()

    def close_soon(self) -> None:
        """Close on this finalizer's loop, from any thread: at once if that loop is closed
        (without touching it), else as soon as it runs."""
        if self._loop.is_closed():
            self.forget()
            return
        try:
            self._loop.call_soon_threadsafe(self._close_here)
        except RuntimeError:  # closed in between
            self.forget()

    def _close_here(self) -> None:
        task = self._loop.create_task(self.aclose())
        _CLOSING.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(_CLOSING.discard)

    def forget(self) -> None:
        """For a loop that was closed without ``shutdown_asyncgens()``: end the generator
        without running ``close()``, which would need that loop. (After a normal shutdown it
        has ended already, and this does nothing.)"""
        self._forgotten[0] = True
        step = self._agen.aclose()
        with suppress(StopIteration, RuntimeError):
            step.send(None)

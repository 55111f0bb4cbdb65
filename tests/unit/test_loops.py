"""orbit_local.net.loops on its own: a value per event loop, and a close that runs on its own loop.

No sockets: the "resource" is a list that records on which loop it was closed.
"""

from __future__ import annotations

import asyncio
import gc
import threading

import pytest

from orbit_local.net.loops import LoopFinalizer, PerLoop


def test_each_loop_gets_its_own_value_and_a_closed_loops_value_is_dropped() -> None:
    dropped: list[object] = []
    per_loop: PerLoop[object] = PerLoop(object, dropped.append)

    async def twice() -> object:
        value = per_loop.get()
        assert per_loop.get() is value  # the same loop: the same value
        return value

    first = asyncio.run(twice())
    second = asyncio.run(twice())
    assert first is not second
    assert dropped == [first]  # found closed when the second loop asked
    assert [value for _, value in per_loop.take_all()] == []  # the second loop is closed too
    assert dropped == [first, second]


def test_outside_a_running_loop_there_is_no_value() -> None:
    with pytest.raises(RuntimeError):
        PerLoop(object).get()


def _recorder() -> tuple[list[asyncio.AbstractEventLoop | None], LoopFinalizer]:
    closed_on: list[asyncio.AbstractEventLoop | None] = []

    async def close() -> None:
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # run outside any loop: recorded too, so such a call is seen
            running = None
        closed_on.append(running)

    return closed_on, LoopFinalizer(close)


def test_the_loop_closes_it_as_it_shuts_down() -> None:
    async def make() -> tuple[list[asyncio.AbstractEventLoop | None], LoopFinalizer, asyncio.AbstractEventLoop]:
        closed_on, finalizer = _recorder()
        return closed_on, finalizer, asyncio.get_running_loop()

    closed_on, _finalizer, loop = asyncio.run(make())  # the finalizer is still referenced here
    assert closed_on == [loop]


def test_aclose_closes_now_and_once() -> None:
    async def run() -> int:
        closed_on, finalizer = _recorder()
        await finalizer.aclose()
        await finalizer.aclose()
        return len(closed_on)

    assert asyncio.run(run()) == 1


def test_a_collected_finalizer_closes_on_its_loop_while_it_runs() -> None:
    async def run() -> bool:
        closed_on, finalizer = _recorder()
        del finalizer
        gc.collect()
        for _ in range(10):  # closed by a task the loop's finalizer hook scheduled
            if closed_on:
                break
            await asyncio.sleep(0)
        return closed_on == [asyncio.get_running_loop()]

    assert asyncio.run(run())


def test_close_soon_from_another_thread_closes_on_the_finalizers_loop() -> None:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:

        async def make() -> tuple[list[asyncio.AbstractEventLoop | None], LoopFinalizer]:
            return _recorder()

        closed_on, finalizer = asyncio.run_coroutine_threadsafe(make(), loop).result(timeout=30)
        finalizer.close_soon()
        asyncio.run_coroutine_threadsafe(asyncio.sleep(0), loop).result(timeout=30)  # let it run
        for _ in range(100):
            if closed_on:
                break
            asyncio.run_coroutine_threadsafe(asyncio.sleep(0), loop).result(timeout=30)
        assert closed_on == [loop]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def test_a_loop_closed_by_hand_is_never_touched_again() -> None:
    # loop.close() without shutdown_asyncgens(): close() would need that dead loop, so forget()
    # ends the generator without it, and close_soon() does the same.
    loop = asyncio.new_event_loop()

    async def make() -> tuple[list[asyncio.AbstractEventLoop | None], LoopFinalizer]:
        return _recorder()

    closed_on, finalizer = loop.run_until_complete(make())
    loop.close()
    finalizer.close_soon()
    finalizer.forget()  # twice: harmless
    assert closed_on == []
    assert loop.is_closed()


# --- forgetting a close that is under way --------------------------------------------------------


def test_forget_while_a_close_is_under_way_is_harmless() -> None:
    """``close_soon`` from another thread may find the loop closing the resource already; the
    generator is then running, and ``forget()`` must leave it to finish."""
    closed: list[str] = []

    async def run() -> None:
        release = asyncio.Event()

        async def close() -> None:
            await release.wait()
            closed.append("closed")

        finalizer = LoopFinalizer(close)
        closing = asyncio.create_task(finalizer.aclose())
        await asyncio.sleep(0)  # suspended inside close()
        finalizer.forget()
        release.set()
        await closing

    asyncio.run(run())
    assert closed == ["closed"]

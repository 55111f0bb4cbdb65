"""One model instance under real use: many threads, many event loops, streams given up early,
models forgotten without ``close()``.

Everything talks to a keep-alive server on 127.0.0.1 (tests/loopback.py): the defects only
show when a pooled connection is reused. The "first calls" tests run in a fresh interpreter,
where httpx is not imported yet.
"""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from llama_index.core.llms import ChatMessage

import langchain_orbit_local as lc
import llamaindex_orbit_local as li
from orbit_local.backends.client import AsyncChatClient
from orbit_local.facts.types import ChatRequest, Message
from tests.loopback import LoopbackServer, loopback_server

pytestmark = [pytest.mark.enable_socket, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    with loopback_server() as running:
        yield running


def _user(text: str) -> list[ChatMessage]:
    return [ChatMessage(role="user", content=text)]


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run``, failing on anything the loop reports on the side (a task's exception
    never retrieved, an async generator that failed to close), which no result would show."""
    reported: list[object] = []

    async def main() -> T:
        asyncio.get_running_loop().set_exception_handler(
            lambda _, context: reported.append(context.get("exception") or context["message"])
        )
        return await coroutine

    result = asyncio.run(main())
    gc.collect()  # a failed task reports itself when it is collected
    assert reported == []
    return result


# ------------------------------------------------------------------ event loops
def test_a_langchain_model_serves_three_event_loops(server: LoopbackServer) -> None:
    model = lc.ChatLMStudio(base_url=server.base_url, model="m")

    async def use(i: int) -> list[str]:
        said = []
        for _ in range(2):
            said.append("".join([str(chunk.content) async for chunk in model.astream(f"stream {i}")]))
        for _ in range(2):  # the last call leaves its connection in the pool for the next loop
            said.append(str((await model.ainvoke(f"call {i}")).content))
        return said

    for i in range(3):  # a script, a notebook cell, a test: each asyncio.run is a new loop
        assert run(use(i)) == [f"stream {i} ", f"stream {i} ", f"call {i}", f"call {i}"]
    model.close()


def test_a_llamaindex_llm_serves_three_event_loops(server: LoopbackServer) -> None:
    llm = li.LMStudio(base_url=server.base_url, model="m")

    async def use(i: int) -> list[str]:
        said = []
        for _ in range(2):
            said.append("".join([r.delta or "" async for r in await llm.astream_chat(_user(f"stream {i}"))]))
        for _ in range(2):
            said.append(str((await llm.achat(_user(f"call {i}"))).message.content))
        return said

    for i in range(3):
        assert run(use(i)) == [f"stream {i} ", f"stream {i} ", f"call {i}", f"call {i}"]
    llm.close()


def test_each_event_loop_gets_its_own_pool_closed_when_that_loop_ends(server: LoopbackServer) -> None:
    client = AsyncChatClient("lmstudio", base_url=server.base_url, model="m")
    request = ChatRequest(model="m", messages=[Message(role="user", content="hi")])

    async def pool_of_this_loop() -> httpx.AsyncClient:
        await client.chat(request)
        return client.transport.client

    first, second = run(pool_of_this_loop()), run(pool_of_this_loop())
    assert first is not second  # a finished loop's pool is never reused...
    assert first.is_closed and second.is_closed  # ...and was closed by its own loop as it shut down


def test_async_locks_are_not_bound_to_a_finished_loop() -> None:
    # No model given: concurrent first calls resolve it once, under the async lock; a second
    # caller waiting on an asyncio.Lock binds the lock to that loop. In memory: only the lock
    # is shared between the loops, and the answer suspends, so the callers do wait.
    async def models(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)
        return httpx.Response(200, json={"object": "list", "data": [{"id": "m1", "object": "model"}]})

    pool = httpx.AsyncClient(transport=httpx.MockTransport(models))
    client = AsyncChatClient("lmstudio", base_url="http://127.0.0.1:1234/v1", http_client=pool)

    async def first_calls() -> list[str]:
        client._model = None  # a fresh start in each loop
        return list(await asyncio.gather(*(client.resolve_model() for _ in range(3))))

    for _ in range(2):
        assert run(first_calls()) == ["m1", "m1", "m1"]


@pytest.mark.parametrize("framework", ["langchain", "llamaindex"])
def test_event_loops_on_several_threads_at_once_share_one_instance(framework: str, server: LoopbackServer) -> None:
    # A web server's worker threads, each with its own loop, all using one model.
    # timeout: a regression (a loop waiting on a connection another loop reads) fails, never hangs
    model: Any = (lc.ChatLMStudio if framework == "langchain" else li.LMStudio)(base_url=server.base_url, timeout=20)

    async def use(i: int) -> list[str]:  # no model given: each loop's first calls resolve it
        if framework == "langchain":
            streamed = "".join([str(c.content) async for c in model.astream(f"stream {i}")])
            return [streamed, str((await model.ainvoke(f"call {i}")).content)]
        streamed = "".join([r.delta or "" async for r in await model.astream_chat(_user(f"stream {i}"))])
        return [streamed, str((await model.achat(_user(f"call {i}"))).message.content)]

    start = threading.Barrier(4)
    said: dict[int, list[str]] = {}
    failed: list[BaseException] = []

    def worker(i: int) -> None:
        start.wait()
        try:
            for round_ in range(2):  # a second loop on the same thread, too
                said[i * 10 + round_] = run(use(i))
        except BaseException as error:
            failed.append(error)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not [thread for thread in threads if thread.is_alive()]
    assert failed == []
    assert said == {i * 10 + r: [f"stream {i} ", f"call {i}"] for i in range(4) for r in range(2)}
    model.close()


# ---------------------------------------------------------------------- threads
FIRST_CALLS = r"""
import json, sys, threading
from tests.loopback import loopback_server
import langchain_orbit_local as lc, llamaindex_orbit_local as li
from llama_index.core.llms import ChatMessage

httpx_loaded = type(sys.modules.get("httpx")).__name__ == "module"
FRAMEWORK = sys.argv[1]
results, errors = {}, []
with loopback_server() as server:
    if FRAMEWORK == "langchain":
        model = lc.ChatLMStudio(base_url=server.base_url, model="m")
        calls = {"invoke": lambda t: model.invoke(t).content,
                 "stream": lambda t: "".join(c.content for c in model.stream(t))}
    else:
        model = li.LMStudio(base_url=server.base_url, model="m")
        msg = lambda t: [ChatMessage(role="user", content=t)]
        calls = {"invoke": lambda t: model.chat(msg(t)).message.content,
                 "stream": lambda t: "".join(r.delta or "" for r in model.stream_chat(msg(t)))}
    start = threading.Barrier(8)

    def run(i):
        first, second = ("stream", "invoke") if i % 2 else ("invoke", "stream")
        start.wait()  # the process's first requests start together
        try:
            results[i] = [calls[first](f"{first} {i}"), calls[second](f"{second} {i}")]
        except Exception as error:
            errors.append(f"thread {i}: {type(error).__name__}: {error}")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    model.close()
print(json.dumps({"httpx_loaded_before": httpx_loaded, "results": results, "errors": errors}))
"""


@pytest.mark.parametrize("framework", ["langchain", "llamaindex"])
def test_first_calls_from_eight_threads_in_a_fresh_interpreter(framework: str) -> None:
    done = subprocess.run(
        [sys.executable, "-W", "error::ResourceWarning", "-c", FIRST_CALLS, framework],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["httpx_loaded_before"] is False  # the threads' calls are the first to need it
    assert report["errors"] == []
    assert len(report["results"]) == 8
    for i, answers in report["results"].items():
        first, second = ("stream", "invoke") if int(i) % 2 else ("invoke", "stream")
        expected = {"invoke": f"invoke {i}", "stream": f"stream {i} "}
        assert answers == [expected[first], expected[second]]
    assert "ResourceWarning" not in done.stderr


@pytest.mark.parametrize("cls", [lc.ChatLMStudio, li.LMStudio], ids=lambda c: c.__name__)
def test_threads_asking_for_a_client_at_once_share_one(cls: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[object] = []
    original = cls._new_client

    def slow_new_client(self: Any) -> Any:
        threading.Event().wait(0.05)  # widens the window in which other threads find no client
        client = original(self)
        built.append(client)
        return client

    monkeypatch.setattr(cls, "_new_client", slow_new_client)
    model = cls(base_url="http://127.0.0.1:1234/v1", model="m")
    start = threading.Barrier(8)
    seen: list[object] = []

    def ask() -> None:
        start.wait()
        seen.append(model.client)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(built) == 1 and all(client is built[0] for client in seen)
    model.close()


def test_threads_asking_for_a_transport_pool_at_once_share_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from orbit_local.facts.providers import get_provider
    from orbit_local.net.transport import Transport

    built: list[httpx.Client] = []
    original = httpx.Client

    def slow_client(*args: Any, **kwargs: Any) -> httpx.Client:
        threading.Event().wait(0.05)
        client = original(*args, **kwargs)
        built.append(client)
        return client

    monkeypatch.setattr(httpx, "Client", slow_client)
    transport = Transport(get_provider("lmstudio"), "http://127.0.0.1:1234/v1")
    start = threading.Barrier(8)
    seen: list[httpx.Client] = []

    def ask() -> None:
        start.wait()
        seen.append(transport.client)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    transport.close()
    assert len(built) == 1 and all(client is built[0] for client in seen)
    assert all(client.is_closed for client in built)  # none left open to leak


# ------------------------------------------------------------- streams given up
@pytest.mark.parametrize("framework", ["langchain", "llamaindex", "llamaindex-complete"])
def test_aclose_on_an_adapter_stream_closes_the_connection_before_returning(framework: str) -> None:
    loop_errors: list[dict[str, Any]] = []
    with loopback_server() as hold:

        async def give_up() -> tuple[str, bool]:
            asyncio.get_running_loop().set_exception_handler(lambda _, context: loop_errors.append(context))
            if framework == "langchain":
                model: Any = lc.ChatLMStudio(base_url=hold.hold_url, model="m")
                stream = model.astream("hi")
                first = str((await stream.__anext__()).content)
            elif framework == "llamaindex":
                model = li.LMStudio(base_url=hold.hold_url, model="m")
                stream = await model.astream_chat(_user("hi"))
                first = (await stream.__anext__()).delta
            else:
                model = li.LMStudio(base_url=hold.hold_url, model="m")
                stream = await model.astream_complete("hi")
                first = (await stream.__anext__()).delta
            await stream.aclose()
            # Blocking the loop on purpose: the connection must be closed already, not by a
            # task the loop would run later (or never, when the loop ends right after).
            return first, hold.disconnected.wait(10)

        first, closed = asyncio.run(give_up())
        gc.collect()  # a failed task of that loop reports itself when it is collected
    assert first == "Hel"
    assert closed, "the server still had the connection after aclose()"
    # The frameworks' dropped generators are still closed later by the loop: that must be a
    # no-op, not a second close racing ours ("aclose(): asynchronous generator is already running").
    assert [context.get("exception") or context["message"] for context in loop_errors] == []


# ------------------------------------------------------------- forgotten models
@pytest.mark.parametrize("cls", [lc.ChatLMStudio, li.LMStudio], ids=lambda c: c.__name__)
def test_a_forgotten_model_closes_its_pool_when_collected(cls: Any, server: LoopbackServer) -> None:
    model = cls(base_url=server.base_url, model="m")
    if cls is lc.ChatLMStudio:
        model.invoke("hi")
    else:
        model.chat(_user("hi"))
    pool = model.client.transport.client
    del model  # no close(): thrown away, as scripts do
    gc.collect()
    assert pool.is_closed  # no socket left for the garbage collector (no ResourceWarning)


@pytest.mark.parametrize("cls", [lc.ChatLMStudio, li.LMStudio], ids=lambda c: c.__name__)
def test_a_forgotten_model_closes_its_async_pool_on_its_running_loop(cls: Any, server: LoopbackServer) -> None:
    async def forget() -> bool:
        model = cls(base_url=server.base_url, model="m")
        if cls is lc.ChatLMStudio:
            await model.ainvoke("hi")
        else:
            await model.achat(_user("hi"))
        pool = model.async_client.transport.client
        del model
        gc.collect()
        for _ in range(50):  # the loop closes it in a task of its own: let the loop run
            if pool.is_closed:
                break
            await asyncio.sleep(0)
        return pool.is_closed

    assert run(forget())

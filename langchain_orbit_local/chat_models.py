"""LangChain chat models for local inference servers.

One base class holds all behaviour; each server is a subclass that only names its provider
profile. The class does type conversion, callbacks and LangChain conventions — requests,
parsing, retries and errors come from :mod:`orbit_local`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.language_models.chat_models import agenerate_from_stream, generate_from_stream
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from langchain_core.utils.utils import get_pydantic_field_names
from pydantic import BaseModel, ConfigDict, Field, model_validator

from langchain_orbit_local._convert import final_chunk, to_generation, to_generation_chunk, to_message
from langchain_orbit_local.errors import raises_native
from langchain_orbit_local.structured import StructuredMethod, build_structured, default_method, detected_structured
from orbit_local.backends.client import AsyncChatBackend, ChatBackend
from orbit_local.backends.gpt4all_direct import async_direct_client, direct_client
from orbit_local.backends.tokens import count_tokens, token_ids
from orbit_local.facts.log import warn_renamed
from orbit_local.facts.providers import GENERIC, is_auto
from orbit_local.facts.types import ChatRequest, ModelInfo
from orbit_local.facts.types import ChatResult as NeutralResult
from orbit_local.features.adapter_kit import FromConfig, LazyClients, chat_request, unknown_keywords_to_kwargs
from orbit_local.features.settings import ChatSettings, GPT4AllDirectSettings, KoboldSamplers
from orbit_local.net.stream_scope import closing_streams


def _noted(run_manager: CallbackManagerForLLMRun | AsyncCallbackManagerForLLMRun | None, model: str) -> str:
    """Fill the run's ``ls_model_name`` with the model resolved from the server.

    LangChain asks ``_get_ls_params`` before the call, when a model that comes from the
    server is not known yet (resolving it there would mean I/O before every call, inside the
    event loop too). The run manager's metadata is the run's own (tracers keep that dict and
    send it when the run ends), so the name filled in here is the one traced.
    """
    if run_manager is not None and not run_manager.metadata.get("ls_model_name"):
        run_manager.metadata["ls_model_name"] = model
    return model


class BaseChatOrbitLocal(FromConfig, LazyClients, ChatSettings, BaseChatModel):
    """Chat model for any local server orbit-local has a profile for.

    Subclasses (``ChatLMStudio``, ``ChatLocalAI``, ...) set ``provider``; ``ChatOrbitLocal``
    leaves it to the caller. ``base_url``, ``api_key`` and ``model`` default to the
    ``<PREFIX>BASE_URL`` / ``<PREFIX>API_KEY`` / ``<PREFIX>MODEL`` environment variables of
    the server (``LMSTUDIO_BASE_URL``, ...), then to the profile's defaults. ``OPENAI_API_KEY``
    is never read.
    """

    # The shared fields (provider, base_url, api_key, sampling, OpenAI optional parameters,
    # timeouts, ...) come from orbit_local.features.settings.ChatSettings; these are LangChain's own.
    model: str | None = Field(default=None, alias="model_name")
    """Model id; when unset, ``<PREFIX>MODEL``, else the server's loaded (else first) model."""
    stop: list[str] | None = Field(default=None, alias="stop_sequences")
    streaming: bool = False
    """``invoke`` streams under the hood (callbacks receive every token)."""
    http_async_client: Any = Field(default=None, exclude=True)
    """Optional ``httpx.AsyncClient`` to send requests with."""
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Body fields sent with every request, as ``ChatOpenAI``'s: a constructor keyword that is
    no field lands here (with a warning that names the closest field)."""

    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True, defer_build=True)


    @model_validator(mode="before")
    @classmethod
    def _collect_model_kwargs(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        return unknown_keywords_to_kwargs(values, get_pydantic_field_names(cls), "model_kwargs", cls.__name__)

    # ------------------------------------------------------------ serialization
    @classmethod
    def is_lc_serializable(cls) -> bool:
        """``dumps``/``loads`` round-trip these models (the API key as a secret reference)."""
        return True

    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        return ["langchain_orbit_local", "chat_models"]

    @property
    def lc_secrets(self) -> dict[str, str]:
        """The API key is written as its server's env var name (``LMSTUDIO_API_KEY``, ...)."""
        return {"api_key": self.provider_profile.env_api_key}

    # ------------------------------------------------------------ configuration
    @property
    def _llm_type(self) -> str:
        """``orbit-local-<server>``; ``orbit-local-auto`` for an auto-detecting model, before and
        after detection, so LangChain's cache key stays the same."""
        return "orbit-local-auto" if is_auto(self.provider) else f"orbit-local-{self.provider_profile.name}"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        """What identifies the model to LangChain's cache: what the user configured, never what
        detection found later (the key must not change between the first call and the next)."""
        auto = is_auto(self.provider)
        profile = self.provider_profile
        return {
            "provider": "auto" if auto else profile.name,
            "model": self.model,
            # The field holds the normalised URL (or the environment's); the default otherwise.
            "base_url": self.base_url if auto else (self.base_url or profile.default_base_url or None),
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "top_p": self.top_p,
            "stop": self.stop,
            "seed": self.seed,
        }

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider=self.provider_label,
            ls_model_name=kwargs.get("model") or self.model or self._resolved_model() or "",
            ls_model_type="chat",
        )
        temperature = kwargs.get("temperature", self.temperature)
        if temperature is not None:
            params["ls_temperature"] = temperature
        max_tokens = kwargs.get("max_tokens", self.max_tokens)
        if max_tokens is not None:
            params["ls_max_tokens"] = max_tokens
        stops = stop or kwargs.get("stop") or self.stop
        if stops:
            params["ls_stop"] = list(stops)
        return params

    def _resolved_model(self) -> str | None:
        """The model a client already resolved from the server (no I/O: this runs before
        every call, also inside an event loop)."""
        for client in self.built_clients():
            if client is not None and client.model:
                return client.model
        return None

    @raises_native
    def list_models(self) -> list[ModelInfo]:
        """The server's model list."""
        return self.client.list_models()

    @raises_native
    def get_context_window(self) -> int | None:
        """The context window the server reports (asked once), also stored in ``profile``
        as ``max_input_tokens``; ``None`` where the server does not tell. Once known, a prompt
        that cannot fit raises a ``ContextOverflowWarning`` before it is sent."""
        window = self.client.context_window()
        self._remember_context_window(window, replace=True)
        return window

    def _remember_context_window(self, window: int | None, *, replace: bool = False) -> None:
        """Put a context size the server reported into ``profile["max_input_tokens"]``.

        Only the server's own number goes there, never a guess: without one, ``profile`` has
        no ``max_input_tokens`` (LangChain's "unknown"). Calls fill it in as soon as a client
        learned it (servers whose first request asks, such as KoboldAI) where no size was
        given (``profile=`` or a config file's ``context_window`` win); :meth:`get_context_window`
        asks outright and replaces it.
        """
        known = (self.profile or {}).get("max_input_tokens")
        if window and known != window and (replace or not known):
            self.profile = {**(self.profile or {}), "max_input_tokens": window}

    @raises_native
    async def alist_models(self) -> list[ModelInfo]:
        return await self.async_client.list_models()

    # ------------------------------------------------------------------- tokens
    @raises_native
    def get_token_ids(self, text: str) -> list[int]:
        """Token ids from the server's own tokenizer (llama.cpp, llama-cpp-python, KoboldCpp,
        vLLM, Lemonade, LocalAI); cached per model and text. Other servers raise
        ``UnsupportedFeatureError``: ids cannot be estimated."""
        return token_ids(self.client, text, self.model)

    @raises_native
    def get_num_tokens(self, text: str) -> int:
        """The server's token count, so ``trim_messages`` is exact on local models; where the
        server has no tokenizer, an estimate with a ``TokenCountEstimateWarning``."""
        return count_tokens(self.client, text, self.model)

    # ------------------------------------------------------------------ requests
    def _chat_request(
        self, messages: list[BaseMessage], stop: list[str] | None, model: str, kwargs: dict[str, Any]
    ) -> ChatRequest:
        """Merge instance settings and per-call kwargs into a neutral request (no I/O)."""
        return chat_request(self, model, [to_message(m) for m in messages], kwargs, self.model_kwargs, stop=stop)

    def _chat_result(self, result: NeutralResult, model: str) -> ChatResult:
        """One generation per answer the server returned (``n`` > 1 gives several)."""
        provider = self.provider_profile.name
        generations = [to_generation(result, provider=provider)]
        for other in result.alternatives:
            generations.append(to_generation(other, provider=provider))
        return ChatResult(generations=generations, llm_output={"model_name": result.model})

    @raises_native
    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.streaming:
            return generate_from_stream(self._stream(messages, stop=stop, run_manager=run_manager, **kwargs))
        client = self.client
        model = _noted(run_manager, client.resolve_model(kwargs.get("model")))
        result = client.chat(self._chat_request(messages, stop, model, kwargs))
        self._remember_context_window(client.known_context_window)
        return self._chat_result(result, model)

    @raises_native
    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.streaming:
            return await agenerate_from_stream(self._astream(messages, stop=stop, run_manager=run_manager, **kwargs))
        client = self.async_client
        model = _noted(run_manager, await client.resolve_model(kwargs.get("model")))
        result = await client.chat(self._chat_request(messages, stop, model, kwargs))
        self._remember_context_window(client.known_context_window)
        return self._chat_result(result, model)

    def astream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[AIMessageChunk]:
        """LangChain's ``astream``, with one difference: ``aclose()`` on it closes the HTTP
        stream before it returns. LangChain's own generator only drops ours, which leaves the
        closing to a task of the event loop, lost if the loop ends first
        (see :mod:`orbit_local.net.stream_scope`)."""
        return closing_streams(super().astream(input, config, stop=stop, **kwargs))

    @raises_native
    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        client = self.client
        model = _noted(run_manager, client.resolve_model(kwargs.get("model")))
        with client.stream(self._chat_request(messages, stop, model, kwargs)) as stream:
            for delta in stream:
                chunk = to_generation_chunk(delta)
                if run_manager is not None:
                    run_manager.on_llm_new_token(delta.text, chunk=chunk)
                yield chunk
        self._remember_context_window(client.known_context_window)
        last = ChatGenerationChunk(message=final_chunk(stream.result(), provider=self.provider_profile.name))
        if run_manager is not None:
            run_manager.on_llm_new_token("", chunk=last)
        yield last

    @raises_native
    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        client = self.async_client
        model = _noted(run_manager, await client.resolve_model(kwargs.get("model")))
        async with client.stream(self._chat_request(messages, stop, model, kwargs)) as stream:
            async for delta in stream:
                chunk = to_generation_chunk(delta)
                if run_manager is not None:
                    await run_manager.on_llm_new_token(delta.text, chunk=chunk)
                yield chunk
        self._remember_context_window(client.known_context_window)
        last = ChatGenerationChunk(message=final_chunk(stream.result(), provider=self.provider_profile.name))
        if run_manager is not None:
            await run_manager.on_llm_new_token("", chunk=last)
        yield last

    # --------------------------------------------------------------------- tools
    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: dict[str, Any] | str | bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools in OpenAI format; ``tool_choice`` is "auto", "none", "required"/"any",
        ``True`` (= required), or a tool name. Choices the server cannot honour are downgraded
        with a warning (see the profile's ``tool_choices``)."""
        formatted = [convert_to_openai_tool(tool) for tool in tools]
        choice: str | dict[str, Any] | None
        if tool_choice is True:
            choice = "required"
        elif tool_choice is False:
            choice = None
        elif isinstance(tool_choice, str) and tool_choice not in ("auto", "none", "required", "any"):
            choice = {"type": "function", "function": {"name": tool_choice}}
        else:
            choice = tool_choice
        if choice is not None:
            kwargs["tool_choice"] = choice
        return super().bind(tools=formatted, **kwargs)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type | None = None,
        *,
        method: StructuredMethod | None = None,
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | BaseModel]:
        """Answers parsed into ``schema`` (a pydantic class, TypedDict or JSON schema).

        ``method`` defaults to what the server honours best: ``json_schema`` where it has
        constrained JSON output, else ``function_calling``, else ``json_mode``.
        """
        if kwargs:
            raise ValueError(f"Unexpected arguments: {sorted(kwargs)}")
        if schema is None:
            raise ValueError("with_structured_output needs a schema")
        if method is None and is_auto(self.provider) and self.provider_profile.name == GENERIC:
            return detected_structured(self, schema, include_raw=include_raw, strict=strict)
        return build_structured(
            self,
            schema,
            method=method or default_method(self.provider_profile),
            include_raw=include_raw,
            strict=strict,
        )


class ChatOrbitLocal(BaseChatOrbitLocal):
    """Any local server: ``ChatOrbitLocal(base_url="http://127.0.0.1:8000/v1")``.

    Without ``provider`` (or with ``provider="auto"``) the server is fingerprinted once, on the
    first request, and its profile is used; without ``base_url`` either, the first server
    answering on a default port. ``provider=`` names a profile outright (its quirks and
    defaults); ``openai-compatible`` assumes a well-behaved server.
    """

    provider: str = "auto"


class ChatLMStudio(BaseChatOrbitLocal):
    """LM Studio's local server (default ``http://localhost:1234/v1``, env ``LMSTUDIO_*``)."""

    provider: Literal["lmstudio"] = "lmstudio"


class ChatLocalAI(BaseChatOrbitLocal):
    """LocalAI (default ``http://localhost:8080/v1``, env ``LOCALAI_*``)."""

    provider: Literal["localai"] = "localai"


class ChatFastChat(BaseChatOrbitLocal):
    """FastChat's OpenAI API server (default ``http://localhost:8000/v1``, env ``FASTCHAT_*``)."""

    provider: Literal["fastchat"] = "fastchat"


class ChatGPT4All(BaseChatOrbitLocal, GPT4AllDirectSettings):
    """GPT4All, two ways.

    Server mode (default): the desktop app's API server (``http://localhost:4891/v1``, env
    ``GPT4ALL_*``). It cannot stream, so streaming is emulated with one chunk.

    Direct mode: ``ChatGPT4All(model_path="model.gguf")`` runs the GGUF inside this process
    with the ``gpt4all`` package (``pip install "orbit-local[gpt4all]"``), never downloading
    anything; it streams token by token, and async runs it on a worker thread.
    """

    provider: Literal["gpt4all"] = "gpt4all"

    def _new_client(self) -> ChatBackend:
        return direct_client(self) if self.model_path else super()._new_client()

    def _new_async_client(self) -> AsyncChatBackend:
        return async_direct_client(self) if self.model_path else super()._new_async_client()


class ChatKoboldAI(BaseChatOrbitLocal, KoboldSamplers):
    """KoboldAI's own API (``/api/v1/generate``; KoboldCpp adds streaming, abort and token
    counting). Messages go through ``chat_template`` (default "chatml"). KoboldAI's samplers
    are fields here; anything else goes in ``extra_body``."""

    provider: Literal["koboldai"] = "koboldai"


class ChatGaia(BaseChatOrbitLocal):
    """AMD GAIA's Lemonade Server (default ``http://localhost:13305/api/v1``, env ``LEMONADE_*``)."""

    provider: Literal["lemonade"] = "lemonade"


class ChatLlamaCpp(BaseChatOrbitLocal):
    """llama.cpp's ``llama-server`` (default ``http://localhost:8080/v1``, env ``LLAMACPP_*``)."""

    provider: Literal["llamacpp"] = "llamacpp"


class ChatVLLM(BaseChatOrbitLocal):
    """vLLM's OpenAI server (default ``http://localhost:8000/v1``, env ``VLLM_*``)."""

    provider: Literal["vllm"] = "vllm"


class ChatShimmy(BaseChatOrbitLocal):
    """Shimmy (default ``http://localhost:11435/v1``, env ``SHIMMY_*``)."""

    provider: Literal["shimmy"] = "shimmy"


class ChatOllamaOpenAI(BaseChatOrbitLocal):
    """Ollama's OpenAI side (default ``http://localhost:11434/v1``, env ``OLLAMA_*``). Named
    for the API it speaks, so it never clashes with langchain-ollama's ``ChatOllama`` (Ollama's
    native API)."""

    provider: Literal["ollama"] = "ollama"


class ChatOllama(ChatOllamaOpenAI):
    """Deprecated name of :class:`ChatOllamaOpenAI`."""

    def __init__(self, **kwargs: Any) -> None:
        warn_renamed("ChatOllama", "ChatOllamaOpenAI", "langchain-ollama's ChatOllama has that name")
        super().__init__(**kwargs)

"""High-level clients: one profile + one protocol + one transport.

:class:`ChatClient` and :class:`AsyncChatClient` are what the LangChain and LlamaIndex
adapters wrap (as ``langchain-ollama`` wraps the ``ollama`` client). Everything that is not
I/O — picking the protocol, choosing a default model, emulating a stream — lives in
:class:`_ClientBase` and is shared.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing, closing
from typing import Any

import httpx

from orbit_local.accumulate import deltas_from_result
from orbit_local.errors import ModelNotFoundError
from orbit_local.protocols.base import ChatProtocol
from orbit_local.protocols.openai import OpenAIProtocol
from orbit_local.providers import ProviderProfile, get_provider
from orbit_local.transport import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    DEFAULT_WARMUP_TIMEOUT,
    AsyncTransport,
    Transport,
)
from orbit_local.types import ChatDelta, ChatRequest, ChatResult, EmbeddingResult, ModelInfo


def make_protocol(profile: ProviderProfile, base_url: str) -> ChatProtocol:
    """The protocol object a profile names."""
    if profile.protocol == "openai":
        return OpenAIProtocol(profile, base_url)
    raise ValueError(f"{profile.display_name}: unknown protocol {profile.protocol!r}")


def pick_default_model(models: list[ModelInfo]) -> str | None:
    """The loaded chat model, else the first chat model, else the first model."""
    chat = [m for m in models if (m.kind or "llm") not in ("embeddings", "embedding")]
    for pool in (chat, models):
        loaded = [m for m in pool if m.loaded]
        if loaded:
            return loaded[0].id
        if pool:
            return pool[0].id
    return None


class _ClientBase:
    """Configuration and the non-I/O half of both clients."""

    def __init__(
        self,
        provider: str | ProviderProfile,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        model: str | None = None,
    ) -> None:
        self.profile = get_provider(provider)
        self.base_url = self.profile.resolve_base_url(base_url)
        self.api_key = self.profile.resolve_api_key(api_key)
        self.protocol = make_protocol(self.profile, self.base_url)
        self._model = self.profile.resolve_model(model)

    def _transport_kwargs(
        self, timeout: float | None, max_retries: int, warmup_timeout: float, headers: dict[str, str] | None
    ) -> dict[str, Any]:
        return {
            "api_key": self.api_key,
            "timeout": timeout,
            "max_retries": max_retries,
            "warmup_timeout": warmup_timeout,
            "headers": headers,
        }

    def _chosen_model(self, models: list[ModelInfo]) -> str:
        chosen = pick_default_model(models)
        if chosen is None:
            raise ModelNotFoundError(
                "the server lists no models, and none was given",
                provider=self.profile.display_name,
                base_url=self.base_url,
                hint=f"{self.profile.model_hint}; or pass model=... / set {self.profile.env_model}",
            )
        self._model = chosen
        return chosen


class ChatClient(_ClientBase):
    """Synchronous client for one local server."""

    def __init__(
        self,
        provider: str | ProviderProfile,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        model: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        warmup_timeout: float = DEFAULT_WARMUP_TIMEOUT,
        headers: dict[str, str] | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(provider, base_url=base_url, api_key=api_key, model=model)
        self.transport = Transport(
            self.profile,
            self.base_url,
            client=http_client,
            **self._transport_kwargs(timeout, max_retries, warmup_timeout, headers),
        )

    def close(self) -> None:
        self.transport.close()

    def list_models(self) -> list[ModelInfo]:
        return self.protocol.parse_models(self.transport.request_json(self.protocol.models_request()))

    def resolve_model(self, model: str | None = None) -> str:
        """The given model, else ``<PREFIX>MODEL``, else the server's loaded (or first) model."""
        if model:
            return model
        if self._model:
            return self._model
        return self._chosen_model(self.list_models())

    def chat(self, request: ChatRequest) -> ChatResult:
        payload = self.transport.request_json(self.protocol.chat_request(request, stream=False))
        return self.protocol.parse_chat(payload, request)

    def stream(self, request: ChatRequest) -> Iterator[ChatDelta]:
        """Deltas as they arrive; one emulated delta where the server cannot stream."""
        if not self.profile.streaming:
            yield from deltas_from_result(self.chat(request))
            return
        parser = self.protocol.stream_parser(request)
        events = self.transport.stream_events(self.protocol.chat_request(request, stream=True), self.protocol.framing)
        with closing(events):
            for event in events:
                delta = parser.feed(event)
                if delta is not None:
                    yield delta
                if parser.done:
                    return
        parser.finish()

    def embed(self, texts: list[str], model: str) -> EmbeddingResult:
        return self.protocol.parse_embeddings(
            self.transport.request_json(self.protocol.embeddings_request(texts, model))
        )


class AsyncChatClient(_ClientBase):
    """Asynchronous twin of :class:`ChatClient`; never blocks the event loop."""

    def __init__(
        self,
        provider: str | ProviderProfile,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        model: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        warmup_timeout: float = DEFAULT_WARMUP_TIMEOUT,
        headers: dict[str, str] | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(provider, base_url=base_url, api_key=api_key, model=model)
        self.transport = AsyncTransport(
            self.profile,
            self.base_url,
            client=http_client,
            **self._transport_kwargs(timeout, max_retries, warmup_timeout, headers),
        )

    async def aclose(self) -> None:
        await self.transport.aclose()

    async def list_models(self) -> list[ModelInfo]:
        return self.protocol.parse_models(await self.transport.request_json(self.protocol.models_request()))

    async def resolve_model(self, model: str | None = None) -> str:
        if model:
            return model
        if self._model:
            return self._model
        return self._chosen_model(await self.list_models())

    async def chat(self, request: ChatRequest) -> ChatResult:
        payload = await self.transport.request_json(self.protocol.chat_request(request, stream=False))
        return self.protocol.parse_chat(payload, request)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        if not self.profile.streaming:
            for whole in deltas_from_result(await self.chat(request)):
                yield whole
            return
        parser = self.protocol.stream_parser(request)
        events = self.transport.stream_events(self.protocol.chat_request(request, stream=True), self.protocol.framing)
        async with aclosing(events):
            async for event in events:
                delta = parser.feed(event)
                if delta is not None:
                    yield delta
                if parser.done:
                    return
        parser.finish()

    async def embed(self, texts: list[str], model: str) -> EmbeddingResult:
        payload = await self.transport.request_json(self.protocol.embeddings_request(texts, model))
        return self.protocol.parse_embeddings(payload)

"""LangChain embeddings for local servers that have an embeddings endpoint.

Texts are always sent as strings (never token arrays: FastChat would try to download a
tokenizer), in batches of ``batch_size``, and vectors come back in input order.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from langchain_core.embeddings import Embeddings
from pydantic import ConfigDict, Field

from langchain_orbit_local.errors import raises_native
from orbit_local.facts.log import warn_renamed
from orbit_local.features.adapter_kit import FromConfig, LazyClients


def _batches(texts: list[str], size: int) -> list[list[str]]:
    return [texts[start : start + size] for start in range(0, len(texts), max(1, size))]


class BaseOrbitLocalEmbeddings(FromConfig, LazyClients, Embeddings):
    """Embeddings from any local server with an OpenAI-style ``/embeddings`` endpoint."""

    config_model_key: ClassVar[str] = "embedding_model"

    # The connection fields come from orbit_local.features.settings.ConnectionSettings.
    model: str | None = Field(default=None, alias="model_name")
    """Embedding model id; when unset, ``<PREFIX>MODEL`` (no default: chat models cannot embed)."""
    batch_size: int = Field(default=32, gt=0)
    """Texts per request."""
    http_async_client: Any = Field(default=None, exclude=True)

    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True, defer_build=True)


    def _model(self) -> str:
        if not self.model:
            raise ValueError(
                f"{type(self).__name__}: pass model=... (an embedding model id) "
                f"or set {self.provider_profile.env_model}"
            )
        return self.model

    @raises_native
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        model = self._model()
        vectors: list[list[float]] = []
        for batch in _batches(list(texts), self.batch_size):
            vectors.extend(self.client.embed(batch, model).vectors)
        return vectors

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]

    @raises_native
    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        model = self._model()
        vectors: list[list[float]] = []
        for batch in _batches(list(texts), self.batch_size):
            vectors.extend((await self.async_client.embed(batch, model)).vectors)
        return vectors

    async def aembed_query(self, text: str) -> list[float]:
        return (await self.aembed_documents([text]))[0]


class OrbitLocalEmbeddings(BaseOrbitLocalEmbeddings):
    """Any local server: ``OrbitLocalEmbeddings(base_url=..., model=...)``; without ``provider``
    the server is fingerprinted on the first request (``provider="auto"``)."""

    provider: str = "auto"


class LMStudioEmbeddings(BaseOrbitLocalEmbeddings):
    provider: Literal["lmstudio"] = "lmstudio"


class LocalAIEmbeddings(BaseOrbitLocalEmbeddings):
    provider: Literal["localai"] = "localai"


class FastChatEmbeddings(BaseOrbitLocalEmbeddings):
    provider: Literal["fastchat"] = "fastchat"


class GaiaEmbeddings(BaseOrbitLocalEmbeddings):
    provider: Literal["lemonade"] = "lemonade"


class LlamaCppEmbeddings(BaseOrbitLocalEmbeddings):
    provider: Literal["llamacpp"] = "llamacpp"


class VLLMEmbeddings(BaseOrbitLocalEmbeddings):
    provider: Literal["vllm"] = "vllm"


class OllamaOpenAIEmbeddings(BaseOrbitLocalEmbeddings):
    """Ollama's OpenAI-side embeddings (not langchain-ollama's ``OllamaEmbeddings``)."""

    provider: Literal["ollama"] = "ollama"


class OllamaEmbeddings(OllamaOpenAIEmbeddings):
    """Deprecated name of :class:`OllamaOpenAIEmbeddings`."""

    def __init__(self, **kwargs: Any) -> None:
        warn_renamed("OllamaEmbeddings", "OllamaOpenAIEmbeddings", "langchain-ollama's OllamaEmbeddings has that name")
        super().__init__(**kwargs)

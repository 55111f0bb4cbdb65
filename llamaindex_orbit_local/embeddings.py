"""LlamaIndex embeddings for local servers with an embeddings endpoint (strings only, batched)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import Field, model_validator
from llama_index.core.constants import DEFAULT_EMBED_BATCH_SIZE

from orbit_local.facts.log import warn_renamed
from orbit_local.features.adapter_kit import FromConfig, LazyClients
from orbit_local.features.settings import settings_with_environment


class OrbitLocalEmbedding(FromConfig, LazyClients, BaseEmbedding):
    """Embeddings from any local server with an OpenAI-style ``/embeddings`` endpoint.

    ``embed_batch_size`` (LlamaIndex's own field) sets how many texts go in one request.
    """

    config_model_key: ClassVar[str] = "embedding_model"

    # The connection fields come from orbit_local.features.settings.ConnectionSettings.
    provider: str = Field(default="auto")
    model: str | None = Field(default=None, description="Embedding model id (or <PREFIX>MODEL).")
    async_http_client: Any = Field(default=None, exclude=True)
    embed_batch_size: int = Field(default=DEFAULT_EMBED_BATCH_SIZE, gt=0)


    @model_validator(mode="before")
    @classmethod
    def _model_name_follows_model(cls, values: Any) -> Any:
        # LlamaIndex's own ``model_name`` field names the model in its events and serialisation.
        if not isinstance(values, dict):
            return values
        values = settings_with_environment(values, cls.model_fields["provider"].default)
        if values.get("model") and not values.get("model_name"):
            values["model_name"] = values["model"]
        return values

    @classmethod
    def class_name(cls) -> str:
        return f"orbit_local_embedding_{cls.model_fields['provider'].default}"

    def _require_model(self) -> str:
        if not self.model:
            raise ValueError(f"{type(self).__name__}: pass model=... (an embedding model id)")
        return self.model

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self.client.embed(list(texts), self._require_model()).vectors

    async def _aget_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return (await self.async_client.embed(list(texts), self._require_model())).vectors

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return (await self._aget_text_embeddings([text]))[0]

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._get_text_embedding(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return await self._aget_text_embedding(query)


class LMStudioEmbedding(OrbitLocalEmbedding):
    provider: Literal["lmstudio"] = "lmstudio"


class LocalAIEmbedding(OrbitLocalEmbedding):
    provider: Literal["localai"] = "localai"


class FastChatEmbedding(OrbitLocalEmbedding):
    provider: Literal["fastchat"] = "fastchat"


class GaiaEmbedding(OrbitLocalEmbedding):
    provider: Literal["lemonade"] = "lemonade"


class LlamaCppEmbedding(OrbitLocalEmbedding):
    provider: Literal["llamacpp"] = "llamacpp"


class VLLMEmbedding(OrbitLocalEmbedding):
    provider: Literal["vllm"] = "vllm"


class OllamaOpenAIEmbedding(OrbitLocalEmbedding):
    """Ollama's OpenAI-side embeddings (not llama-index-embeddings-ollama's ``OllamaEmbedding``)."""

    provider: Literal["ollama"] = "ollama"


class OllamaEmbedding(OllamaOpenAIEmbedding):
    """Deprecated name of :class:`OllamaOpenAIEmbedding`."""

    def __init__(self, **kwargs: Any) -> None:
        warn_renamed(
            "OllamaEmbedding", "OllamaOpenAIEmbedding", "llama-index-embeddings-ollama's OllamaEmbedding has that name"
        )
        super().__init__(**kwargs)

"""LangChain rerankers over a local server's ``/v1/rerank``, as document compressors.

Used as langchain-cohere's ``CohereRerank`` is: in a ``ContextualCompressionRetriever``, or
alone through ``compress_documents``. The documents come back best first, at most ``top_n``,
each a copy with the server's score in ``metadata["relevance_score"]``. The request and the
reading of the answer are :mod:`orbit_local.protocols.rerank`, shared with LlamaIndex.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from pydantic import ConfigDict, Field

from langchain_orbit_local.errors import raises_native
from orbit_local.facts.types import RerankResult
from orbit_local.features.adapter_kit import LazyClients


def _texts(documents: Sequence[str | Document | dict[str, Any]]) -> list[str]:
    """The text of each document: a string, a Document's ``page_content``, or a dict's ``text``
    (Cohere's ``rerank`` takes all three)."""
    texts: list[str] = []
    for document in documents:
        if isinstance(document, Document):
            texts.append(document.page_content)
        elif isinstance(document, dict):
            texts.append(str(document["text"]))
        else:
            texts.append(str(document))
    return texts


def _scored(documents: Sequence[Document], result: RerankResult) -> list[Document]:
    """Copies of the ranked documents, best first, with ``relevance_score`` in their metadata
    (the input documents are left as they were)."""
    ranked: list[Document] = []
    for place in result.ranking:
        original = documents[place.index]
        ranked.append(
            Document(
                page_content=original.page_content,
                metadata={**original.metadata, "relevance_score": place.score},
                id=original.id,
            )
        )
    return ranked


def _rows(result: RerankResult) -> list[dict[str, Any]]:
    return [{"index": place.index, "relevance_score": place.score} for place in result.ranking]


class BaseOrbitLocalRerank(LazyClients, BaseDocumentCompressor):
    """Reranks documents with a local server's reranking model."""

    # The connection fields come from orbit_local.features.settings.ConnectionSettings.
    model: str | None = Field(default=None, alias="model_name")
    """Reranking model id; when unset, ``<PREFIX>MODEL``, else none is sent and the server
    uses its own (llama-server serves the model it was started with)."""
    top_n: int | None = Field(default=3, ge=1)
    """How many documents to keep (``None``: all of them, reordered)."""
    http_async_client: Any = Field(default=None, exclude=True)

    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True, defer_build=True)


    @raises_native
    def rerank(
        self, documents: Sequence[str | Document | dict[str, Any]], query: str, *, top_n: int | None = -1
    ) -> list[dict[str, Any]]:
        """``[{"index": i, "relevance_score": s}, ...]``, best first, as ``CohereRerank.rerank``
        answers. ``top_n=-1`` (the default) means the instance's ``top_n``."""
        keep = self.top_n if top_n == -1 else top_n
        return _rows(self.client.rerank(query, _texts(documents), self.model, keep))

    @raises_native
    async def arerank(
        self, documents: Sequence[str | Document | dict[str, Any]], query: str, *, top_n: int | None = -1
    ) -> list[dict[str, Any]]:
        """Async twin of :meth:`rerank`."""
        keep = self.top_n if top_n == -1 else top_n
        return _rows(await self.async_client.rerank(query, _texts(documents), self.model, keep))

    @raises_native
    def compress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        """The documents best first, at most ``top_n``, scored in ``metadata["relevance_score"]``."""
        if not documents:
            return []
        return _scored(documents, self.client.rerank(query, _texts(documents), self.model, self.top_n))

    @raises_native
    async def acompress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        """Async twin of :meth:`compress_documents`; never blocks the event loop."""
        if not documents:
            return []
        result = await self.async_client.rerank(query, _texts(documents), self.model, self.top_n)
        return _scored(documents, result)


class OrbitLocalRerank(BaseOrbitLocalRerank):
    """Any local server: ``OrbitLocalRerank(base_url=..., top_n=3)``; without ``provider`` the
    server is fingerprinted on the first request (``provider="auto"``)."""

    provider: str = "auto"


class LlamaCppRerank(BaseOrbitLocalRerank):
    """llama.cpp's ``llama-server --reranking`` (``/v1/rerank``)."""

    provider: Literal["llamacpp"] = "llamacpp"


class LocalAIRerank(BaseOrbitLocalRerank):
    """LocalAI's ``/v1/rerank`` (a model with a rerankers backend)."""

    provider: Literal["localai"] = "localai"


class VLLMRerank(BaseOrbitLocalRerank):
    """vLLM's ``/v1/rerank`` (a cross-encoder or ``--task score`` model)."""

    provider: Literal["vllm"] = "vllm"


class GaiaRerank(BaseOrbitLocalRerank):
    """Lemonade Server's ``/api/v1/reranking`` (a model with the ``reranking`` label)."""

    provider: Literal["lemonade"] = "lemonade"

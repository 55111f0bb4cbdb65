"""LlamaIndex rerankers over a local server's ``/v1/rerank``, as node postprocessors.

Used as llama-index's ``CohereRerank`` is: ``index.as_query_engine(node_postprocessors=[...])``
or ``postprocess_nodes(nodes, query_str=...)``. The nodes come back best first, at most
``top_n``, with ``NodeWithScore.score`` set to the server's score; the rerank events
(``ReRankStartEvent``/``ReRankEndEvent`` and the ``RERANKING`` callback) fire as they do for
llama-index's own rerankers. The wire is :mod:`orbit_local.protocols.rerank`, shared with LangChain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

from llama_index.core.bridge.pydantic import Field
from llama_index.core.callbacks import CBEventType, EventPayload
from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]  # re-exported, no __all__
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle

from orbit_local.facts.types import RerankResult
from orbit_local.features.adapter_kit import LazyClients

dispatcher = get_dispatcher(__name__)


class OrbitLocalRerank(LazyClients, BaseNodePostprocessor):
    """Reranks nodes with any local server's reranking model (``provider="auto"``: the server
    at ``base_url`` is fingerprinted on the first request)."""

    # The connection fields come from orbit_local.features.settings.ConnectionSettings.
    provider: str = Field(default="auto")
    model: str | None = Field(
        default=None,
        description="Reranking model id (or <PREFIX>MODEL); unset: none is sent and the server uses its own.",
    )
    top_n: int | None = Field(default=2, ge=1, description="Nodes to keep, best first (None: all).")
    keep_retrieval_score: bool = Field(
        default=False, description="Keep each node's retrieval score in metadata['retrieval_score']."
    )
    async_http_client: Any = Field(default=None, exclude=True)


    @classmethod
    def class_name(cls) -> str:
        return f"orbit_local_rerank_{cls.model_fields['provider'].default}"

    @staticmethod
    def _query(query_bundle: QueryBundle | None) -> str:
        if query_bundle is None:
            raise ValueError("Missing query bundle: pass query_str=... or query_bundle=... to postprocess_nodes")
        return query_bundle.query_str

    @staticmethod
    def _texts(nodes: list[NodeWithScore]) -> list[str]:
        return [node.node.get_content(metadata_mode=MetadataMode.EMBED) for node in nodes]

    @contextmanager
    def _reranking(
        self, nodes: list[NodeWithScore], query: str
    ) -> Iterator[Callable[[RerankResult], list[NodeWithScore]]]:
        """The start and end events around one rerank (sync and async alike). The body hands the
        server's result to the function yielded, which returns the ranked nodes."""
        model_name = self.model or self.provider_profile.display_name
        dispatcher.event(
            ReRankStartEvent(query=query, nodes=nodes, top_n=self.top_n or len(nodes), model_name=model_name)
        )
        ranked: list[NodeWithScore] = []

        def finish(result: RerankResult) -> list[NodeWithScore]:
            ranked.extend(self._scored(nodes, result))
            return ranked

        payload: dict[str, Any] = {
            EventPayload.NODES: nodes,
            EventPayload.MODEL_NAME: model_name,
            EventPayload.QUERY_STR: query,
            EventPayload.TOP_K: self.top_n,
        }
        with self.callback_manager.event(CBEventType.RERANKING, payload=payload) as event:
            yield finish
            event.on_end(payload={EventPayload.NODES: ranked})
        dispatcher.event(ReRankEndEvent(nodes=ranked))

    def _scored(self, nodes: list[NodeWithScore], result: RerankResult) -> list[NodeWithScore]:
        """The ranked nodes, best first, scored by the server (the input nodes are left as they were)."""
        ranked: list[NodeWithScore] = []
        for place in result.ranking:
            original = nodes[place.index]
            if self.keep_retrieval_score:
                original.node.metadata["retrieval_score"] = original.score
            ranked.append(NodeWithScore(node=original.node, score=place.score))
        return ranked

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        query = self._query(query_bundle)
        if not nodes:
            return []
        with self._reranking(nodes, query) as finish:
            return finish(self.client.rerank(query, self._texts(nodes), self.model, self.top_n))

    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        query = self._query(query_bundle)
        if not nodes:
            return []
        with self._reranking(nodes, query) as finish:
            return finish(await self.async_client.rerank(query, self._texts(nodes), self.model, self.top_n))


class LlamaCppRerank(OrbitLocalRerank):
    """llama.cpp's ``llama-server --reranking`` (``/v1/rerank``)."""

    provider: Literal["llamacpp"] = "llamacpp"


class LocalAIRerank(OrbitLocalRerank):
    """LocalAI's ``/v1/rerank``."""

    provider: Literal["localai"] = "localai"


class VLLMRerank(OrbitLocalRerank):
    """vLLM's ``/v1/rerank``."""

    provider: Literal["vllm"] = "vllm"


class GaiaRerank(OrbitLocalRerank):
    """Lemonade Server's ``/api/v1/reranking``."""

    provider: Literal["lemonade"] = "lemonade"

"""The rerank call on the wire, without I/O: shared by both clients and both frameworks.

llama.cpp (``--reranking``), LocalAI, vLLM and Lemonade Server all take the Jina/Cohere
request — ``query``, ``documents`` (strings), ``top_n``, ``model`` — and answer
``{"results": [{"index": i, "relevance_score": s}, ...]}``. They differ in the path, in
whether the answer comes sorted (llama.cpp sorts and honours ``top_n``; Lemonade answers in
input order) and in whether they rerank at all: that is :class:`RerankEndpoint` data on the
profile. The answer is therefore always sorted and cut to ``top_n`` here, whatever the server
did, and a server without reranking is refused before anything is sent.
"""

from __future__ import annotations

import json
import math
from typing import Any

from orbit_local.facts.errors import ProtocolError, UnsupportedFeatureError
from orbit_local.facts.providers import ProviderProfile, RerankEndpoint
from orbit_local.facts.types import HttpRequest, RankedDocument, RerankResult
from orbit_local.protocols.errors import error_in_payload
from orbit_local.protocols.openai import parse_usage
from orbit_local.protocols.shapes import expect_object, typed_shapes


class RerankWire:
    """Builds one server's rerank request and reads its answer."""

    def __init__(self, profile: ProviderProfile, base_url: str) -> None:
        self.profile = profile
        self.base_url = base_url

    def endpoint(self) -> RerankEndpoint:
        """The server's rerank endpoint, or an UnsupportedFeatureError naming what to do."""
        if self.profile.rerank is None:
            raise UnsupportedFeatureError(
                "this server has no reranking endpoint",
                provider=self.profile.display_name,
                base_url=self.base_url,
                hint="rerank with a server that has one (llama.cpp `llama-server --reranking`, LocalAI, vLLM, "
                "Lemonade Server), or pass provider='openai-compatible' for another server with POST /v1/rerank",
            )
        return self.profile.rerank

    def request(self, query: str, documents: list[str], model: str | None, top_n: int | None) -> HttpRequest:
        """``POST <rerank path>`` with the query, the documents as strings and, when set, the
        model (llama-server serves the one it was started with) and ``top_n``."""
        endpoint = self.endpoint()
        if top_n is not None and top_n < 1:
            raise ValueError(f"top_n must be at least 1 (or None for every document), not {top_n}")
        body: dict[str, Any] = {"query": query, "documents": list(documents)}
        if model:
            body["model"] = model
        if top_n is not None:
            body["top_n"] = top_n
        return HttpRequest("POST", endpoint.path, body, from_root=endpoint.from_root)

    @typed_shapes("the rerank answer")
    def parse(self, payload: Any, count: int, top_n: int | None = None) -> RerankResult:
        """The ranking in ``payload`` for ``count`` documents sent: best first, ties in input
        order, at most ``top_n``. An error object, an index outside the documents sent, a
        repeated index or a score that is not a number is a typed error, never a wrong order."""
        endpoint = self.endpoint()
        error = error_in_payload(self.profile, self.base_url, payload)  # an error object inside a 200
        if error is not None:
            raise error
        payload = expect_object(payload, "the rerank answer", self)
        rows = payload.get(endpoint.results_key)
        if not isinstance(rows, list):
            raise self._error(f"the rerank answer has no {endpoint.results_key!r} array", payload)
        ranking: list[RankedDocument] = []
        seen: set[int] = set()
        for row in rows:
            index, score = row.get("index"), row.get(endpoint.score_key)
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
                raise self._error(f"a rerank result names document {index!r}, but {count} were sent", payload)
            if index in seen:
                raise self._error(f"the rerank answer ranks document {index} twice", payload)
            if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
                raise self._error(f"document {index} has no numeric {endpoint.score_key!r}: {score!r}", payload)
            seen.add(index)
            ranking.append(RankedDocument(index=index, score=float(score)))
        ranking.sort(key=lambda ranked: (-ranked.score, ranked.index))
        return RerankResult(
            ranking=ranking[:top_n] if top_n is not None else ranking,
            model=payload.get("model") if isinstance(payload.get("model"), str) else None,
            usage=parse_usage(payload.get("usage"), reliable=self.profile.usage_reliable),
        )

    def _error(self, message: str, payload: Any) -> ProtocolError:
        return ProtocolError(
            message,
            provider=self.profile.display_name,
            base_url=self.base_url,
            body=json.dumps(payload)[:2000],
            hint="the server's answer does not follow the rerank API; check the server version and model",
        )


def empty_result() -> RerankResult:
    """The answer for no documents: nothing is sent."""
    return RerankResult(ranking=[])

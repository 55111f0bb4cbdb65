"""The rerankers used as people use them, on a keep-alive loopback server: one instance through
three event loops one after another, and from eight threads at once, in both frameworks
(a pool reused from a closed loop fails with "Event loop is closed")."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from langchain_core.documents import Document
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

import langchain_orbit_local as lc
import llamaindex_orbit_local as li
from tests.loopback import loopback_server

pytestmark = pytest.mark.enable_socket
TEXTS = ["a", "abcd", "ab"]  # the loopback server scores a document by its length
BEST_FIRST = ["abcd", "ab"]


def test_langchain_reranker_through_three_event_loops_and_eight_threads() -> None:
    with loopback_server() as server:
        reranker = lc.OrbitLocalRerank(provider="llamacpp", base_url=server.base_url, top_n=2)
        docs = [Document(page_content=t) for t in TEXTS]
        for _ in range(3):
            ranked = asyncio.run(reranker.acompress_documents(docs, "q"))
            assert [d.page_content for d in ranked] == BEST_FIRST
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda _: reranker.compress_documents(docs, "q"), range(8)))
        assert all([d.page_content for d in r] == BEST_FIRST for r in results)
        assert [d.metadata["relevance_score"] for d in results[0]] == [4.0, 2.0]
        reranker.close()


def test_llamaindex_reranker_through_three_event_loops_and_eight_threads() -> None:
    with loopback_server() as server:
        reranker = li.OrbitLocalRerank(provider="llamacpp", base_url=server.base_url, top_n=2)
        nodes = [NodeWithScore(node=TextNode(text=t), score=0.0) for t in TEXTS]
        for _ in range(3):
            ranked = asyncio.run(reranker.apostprocess_nodes(nodes, QueryBundle("q")))
            assert [n.node.get_content() for n in ranked] == BEST_FIRST
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda _: reranker.postprocess_nodes(nodes, QueryBundle("q")), range(8)))
        assert all([n.node.get_content() for n in r] == BEST_FIRST for r in results)
        assert [n.score for n in results[0]] == [4.0, 2.0]
        reranker.close()

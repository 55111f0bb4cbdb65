"""A llama-server started without ``--reranking``, replayed (``make record PROVIDER=rerank-llamacpp-off``).

It answers ``/v1/rerank`` with HTTP 501 ``not_supported_error`` ("Start it with `--reranking`",
recorded in cassettes/rerank-llamacpp-off/): both frameworks raise UnsupportedFeatureError (in
LangChain its native twin, a ``ModelInvalidRequestError``) with the server's advice in it.
"""

from __future__ import annotations

import pytest
from langchain_core import exceptions as lc
from langchain_core.documents import Document
from llama_index.core.schema import NodeWithScore, TextNode

import langchain_orbit_local as lco
import llamaindex_orbit_local as lio
from orbit_local.facts import errors as ol
from tests.targets import Target, rerank_off_targets

pytestmark = pytest.mark.vcr

TARGETS = [pytest.param(t, id=t.name) for t in rerank_off_targets()]
if not TARGETS:
    TARGETS = [pytest.param(None, marks=pytest.mark.skip(reason="no rerank cassettes recorded yet"), id="none")]

QUERY = "What is the capital of France?"
DOCS = ["Berlin is the capital of Germany.", "Paris is the capital of France."]


def test_langchain_says_to_start_the_server_with_reranking(target: Target) -> None:
    reranker = lco.LlamaCppRerank(base_url=target.base_url)
    with pytest.raises(lc.ModelInvalidRequestError) as caught:
        reranker.compress_documents([Document(page_content=d) for d in DOCS], QUERY)
    error = caught.value
    assert isinstance(error, ol.UnsupportedFeatureError)
    assert error.status_code == 501
    assert error.server_message == "This server does not support reranking. Start it with `--reranking`"


async def test_llamaindex_async_says_the_same(target: Target) -> None:
    reranker = lio.LlamaCppRerank(base_url=target.base_url)
    nodes = [NodeWithScore(node=TextNode(text=d), score=1.0) for d in DOCS]
    with pytest.raises(ol.UnsupportedFeatureError, match="Start it with `--reranking`"):
        await reranker.apostprocess_nodes(nodes, query_str=QUERY)

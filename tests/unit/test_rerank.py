"""Reranking: the wire body, the reading of answers, errors, and both frameworks' classes.

Answers here have the shapes the servers document: llama.cpp's (sorted, ``top_n`` honoured,
``{"model","object":"list","usage","results":[{"index","relevance_score"}]}``) and Lemonade's
(the same keys, in input order). Real answers replay in tests/replay/test_rerank.py.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from langchain_core import exceptions as lc
from langchain_core.documents import Document
from llama_index.core.schema import NodeWithScore, TextNode

import langchain_orbit_local as lco
import llamaindex_orbit_local as lio
from orbit_local.backends.client import AsyncChatClient, ChatClient
from orbit_local.facts import errors as ol
from orbit_local.facts.providers import get_provider
from orbit_local.protocols.rerank import RerankWire

LLAMACPP = "http://localhost:8080/v1"
DOCS = ["Paris is the capital of France.", "Berlin is in Germany.", "The Seine flows through Paris."]
QUERY = "What is the capital of France?"


def answer(*pairs: tuple[int, float], **extra: Any) -> dict[str, Any]:
    """A Jina-style rerank answer with ``(index, relevance_score)`` results in the order given."""
    return {
        "model": "reranker",
        "object": "list",
        "usage": {"prompt_tokens": 51, "total_tokens": 51},
        "results": [{"index": i, "relevance_score": s} for i, s in pairs],
        **extra,
    }


class Recorder:
    """A MockTransport handler that answers one fixed response and keeps every request."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.response

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))

    def async_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self))


def ok(payload: Any) -> Recorder:
    return Recorder(httpx.Response(200, json=payload))


# ---------------------------------------------------------------- the wire


def test_request_body_and_path_on_llamacpp() -> None:
    server = ok(answer((0, 4.0), (2, 1.0)))
    with ChatClient("llamacpp", base_url=LLAMACPP, http_client=server.client()) as client:
        client.rerank(QUERY, DOCS, model="bge-reranker", top_n=2)
    (request,) = server.requests
    assert (request.method, str(request.url)) == ("POST", "http://localhost:8080/v1/rerank")
    assert server.bodies() == [{"query": QUERY, "documents": DOCS, "model": "bge-reranker", "top_n": 2}]


def test_unset_model_and_top_n_are_not_sent() -> None:
    """llama-server serves the model it was started with: no model is made up."""
    server = ok(answer((1, 0.5), (0, 0.25), (2, 0.0)))
    with ChatClient("llamacpp", base_url=LLAMACPP, http_client=server.client()) as client:
        client.rerank(QUERY, DOCS)
    assert server.bodies() == [{"query": QUERY, "documents": DOCS}]


def test_lemonade_uses_its_own_path() -> None:
    server = ok(answer((0, 8.6), (1, -5.4), (2, -3.6)))
    with ChatClient("lemonade", base_url="http://localhost:13305/api/v1", http_client=server.client()) as client:
        client.rerank(QUERY, DOCS, model="bge-reranker-v2-m3-GGUF")
    assert str(server.requests[0].url) == "http://localhost:13305/api/v1/reranking"


@pytest.mark.parametrize("provider", ["lmstudio", "ollama", "gpt4all", "koboldai", "fastchat", "llama-cpp-python"])
def test_servers_without_reranking_are_refused_before_sending(provider: str) -> None:
    server = ok(answer((0, 1.0)))
    client = ChatClient(provider, base_url="http://localhost:9/v1", http_client=server.client())
    with pytest.raises(ol.UnsupportedFeatureError, match="no reranking endpoint") as caught:
        client.rerank(QUERY, DOCS)
    assert server.requests == []
    assert caught.value.provider == get_provider(provider).display_name
    assert "--reranking" in (caught.value.hint or "")


def test_top_n_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="top_n"):
        RerankWire(get_provider("llamacpp"), LLAMACPP).request(QUERY, DOCS, None, 0)


def test_top_n_of_one_is_sent() -> None:
    request = RerankWire(get_provider("llamacpp"), LLAMACPP).request(QUERY, DOCS, None, 1)
    assert (request.method, request.path, request.json) == (
        "POST",
        "/rerank",
        {"query": QUERY, "documents": DOCS, "top_n": 1},
    )


def test_the_refusal_names_the_url_and_the_servers_that_rerank() -> None:
    with pytest.raises(ol.UnsupportedFeatureError) as caught:
        RerankWire(get_provider("ollama"), "http://localhost:11434/v1").endpoint()
    error = caught.value
    assert error.message == "this server has no reranking endpoint"
    assert error.base_url == "http://localhost:11434/v1"
    assert "LocalAI, vLLM, Lemonade Server)" in (error.hint or "")
    assert "provider='openai-compatible' for another server with POST /v1/rerank" in (error.hint or "")


# ---------------------------------------------------------------- reading answers


def parse(payload: Any, top_n: int | None = None, count: int = 3) -> list[tuple[int, float]]:
    result = RerankWire(get_provider("lemonade"), "http://x/api/v1").parse(payload, count, top_n)
    return [(r.index, r.score) for r in result.ranking]


def test_an_answer_in_input_order_is_sorted_best_first() -> None:
    # Lemonade's documented example: input order, not sorted.
    assert parse(answer((0, 8.60673713684082), (1, -5.3886260986328125), (2, -3.555561065673828))) == [
        (0, 8.60673713684082),
        (2, -3.555561065673828),
        (1, -5.3886260986328125),
    ]


def test_top_n_is_applied_when_the_server_ignores_it() -> None:
    assert parse(answer((0, 0.1), (1, 0.9), (2, 0.5)), top_n=2) == [(1, 0.9), (2, 0.5)]


def test_ties_keep_input_order_and_integers_are_scores() -> None:
    assert parse(answer((2, 1), (0, 1), (1, 3))) == [(1, 3.0), (0, 1.0), (2, 1.0)]


def test_model_and_usage_are_kept() -> None:
    result = RerankWire(get_provider("llamacpp"), LLAMACPP).parse(answer((0, 1.0)), 1)
    assert result.model == "reranker"
    assert result.usage is not None and (result.usage.input_tokens, result.usage.total_tokens) == (51, 51)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (answer((3, 1.0)), "names document 3, but 3 were sent"),
        (answer((-1, 1.0)), "names document -1"),
        (answer((0, 1.0), (0, 2.0)), "ranks document 0 twice"),
        (answer((0, None)), "no numeric 'relevance_score'"),
        (answer((0, "high")), "no numeric"),
        (answer((0, True)), "no numeric"),
        ({"results": [{"index": "0", "relevance_score": 1.0}]}, "names document '0'"),
        ({"data": []}, "no 'results' array"),
        ({"results": [1, 2]}, "unexpected shape"),
        ([{"index": 0, "score": 1.0}], "not a JSON object"),
    ],
)
def test_answers_that_break_the_api_are_protocol_errors(payload: Any, message: str) -> None:
    with pytest.raises(ol.ProtocolError, match=message) as caught:
        parse(payload)
    assert caught.value.provider == "Lemonade Server"


def test_a_broken_answer_keeps_the_url_the_bytes_and_the_advice() -> None:
    payload = answer((7, 1.0))
    with pytest.raises(ol.ProtocolError) as caught:
        parse(payload)
    error = caught.value
    assert error.base_url == "http://x/api/v1"
    assert error.body is not None and json.loads(error.body) == payload
    assert "does not follow the rerank API" in (error.hint or "")


def test_an_error_object_in_a_200_is_typed() -> None:
    payload = {
        "error": {"code": 400, "message": "invalid request: 'query' is missing", "type": "invalid_request_error"}
    }
    with pytest.raises(ol.BadRequestError, match="'query' is missing"):
        parse(payload)


# ---------------------------------------------------------------- HTTP errors

# llama.cpp without --reranking (tools/server: ERROR_TYPE_NOT_SUPPORTED, HTTP 501).
NOT_STARTED_WITH_RERANKING = {
    "error": {
        "code": 501,
        "message": "This server does not support reranking. Start it with `--reranking`",
        "type": "not_supported_error",
    }
}


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (501, NOT_STARTED_WITH_RERANKING, ol.UnsupportedFeatureError),
        (
            404,
            {"error": {"code": 404, "message": "File Not Found", "type": "not_found_error"}},
            ol.EndpointNotFoundError,
        ),
        (400, {"error": {"code": 400, "message": '"documents" must be a non-empty string array'}}, ol.BadRequestError),
        (
            401,
            {"error": {"code": 401, "message": "Invalid API Key", "type": "authentication_error"}},
            ol.AuthenticationError,
        ),
        (500, {"error": {"code": 500, "message": "failed to decode batch"}}, ol.ServerError),
        (503, {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}, ol.ServerBusyError),
    ],
)
def test_http_errors_are_typed_and_name_the_server(status: int, body: Any, error: type[ol.OrbitLocalError]) -> None:
    server = Recorder(httpx.Response(status, json=body))
    with (
        ChatClient(
            "llamacpp", base_url=LLAMACPP, http_client=server.client(), max_retries=0, warmup_timeout=0
        ) as client,
        pytest.raises(error) as caught,
    ):
        client.rerank(QUERY, DOCS)
    assert type(caught.value) is error
    assert caught.value.status_code == status
    assert "llama.cpp server at http://localhost:8080/v1" in str(caught.value)


def test_langchain_raises_the_native_twin() -> None:
    server = Recorder(httpx.Response(501, json=NOT_STARTED_WITH_RERANKING))
    reranker = lco.LlamaCppRerank(base_url=LLAMACPP, http_client=server.client(), max_retries=0)
    with pytest.raises(lc.ModelInvalidRequestError) as caught:
        reranker.compress_documents([Document(page_content=d) for d in DOCS], QUERY)
    assert isinstance(caught.value, ol.UnsupportedFeatureError)
    assert "--reranking" in str(caught.value)


def test_langchain_refuses_a_server_without_reranking_natively() -> None:
    server = ok(answer((0, 1.0)))
    reranker = lco.OrbitLocalRerank(
        provider="lmstudio", base_url="http://localhost:1234/v1", http_client=server.client()
    )
    with pytest.raises(lc.ModelInvalidRequestError, match="LM Studio"):
        reranker.compress_documents([Document(page_content="a")], QUERY)
    assert server.requests == []


# ---------------------------------------------------------------- LangChain


def lc_docs() -> list[Document]:
    return [Document(page_content=text, metadata={"source": f"s{i}"}, id=f"d{i}") for i, text in enumerate(DOCS)]


def test_langchain_compressor_reorders_scores_and_keeps_top_n() -> None:
    server = ok(answer((0, 0.2), (1, -3.0), (2, 0.7)))  # input order: the client sorts
    reranker = lco.OrbitLocalRerank(provider="llamacpp", base_url=LLAMACPP, top_n=2, http_client=server.client())
    docs = lc_docs()
    ranked = reranker.compress_documents(docs, QUERY)
    assert [(d.id, d.page_content, d.metadata) for d in ranked] == [
        ("d2", DOCS[2], {"source": "s2", "relevance_score": 0.7}),
        ("d0", DOCS[0], {"source": "s0", "relevance_score": 0.2}),
    ]
    assert all("relevance_score" not in d.metadata for d in docs)  # the inputs are left alone
    assert server.bodies()[0]["top_n"] == 2


async def test_langchain_async_compressor_uses_the_async_client() -> None:
    server = ok(answer((1, 2.0), (0, 1.0)))
    reranker = lco.LlamaCppRerank(base_url=LLAMACPP, top_n=None, http_async_client=server.async_client())
    ranked = await reranker.acompress_documents(lc_docs()[:2], QUERY)
    assert [(d.id, d.metadata["relevance_score"]) for d in ranked] == [("d1", 2.0), ("d0", 1.0)]
    assert reranker._client is None  # no sync client was built on the async path
    assert "top_n" not in server.bodies()[0]


async def test_no_documents_no_request() -> None:
    server = ok(answer())
    reranker = lco.LlamaCppRerank(
        base_url=LLAMACPP, http_client=server.client(), http_async_client=server.async_client()
    )
    assert reranker.compress_documents([], QUERY) == []
    assert await reranker.acompress_documents([], QUERY) == []
    assert reranker.rerank([], QUERY) == []
    assert server.requests == []


def test_langchain_rerank_answers_like_cohere_rerank() -> None:
    server = ok(answer((0, 0.1), (1, 0.3), (2, 0.2)))
    reranker = lco.LlamaCppRerank(base_url=LLAMACPP, top_n=1, model="m", http_client=server.client())
    rows = reranker.rerank([DOCS[0], Document(page_content=DOCS[1]), {"text": DOCS[2]}], QUERY, top_n=None)
    assert rows == [
        {"index": 1, "relevance_score": 0.3},
        {"index": 2, "relevance_score": 0.2},
        {"index": 0, "relevance_score": 0.1},
    ]
    assert server.bodies()[0] == {"query": QUERY, "documents": DOCS, "model": "m"}


def test_generic_class_takes_provider_base_url_api_key_and_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    server = ok(answer((0, 1.0)))
    reranker = lco.OrbitLocalRerank(
        provider="localai", base_url="http://127.0.0.1:8081/v1", api_key="k", timeout=7, http_client=server.client()
    )
    reranker.compress_documents([Document(page_content="a")], QUERY)
    request = server.requests[0]
    assert str(request.url) == "http://127.0.0.1:8081/v1/rerank"
    assert request.headers["authorization"] == "Bearer k"
    assert reranker.client.transport.timeout.read == 7  # type: ignore[attr-defined]


def test_per_server_class_reads_its_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLLM_BASE_URL", "http://127.0.0.1:8001/v1")
    monkeypatch.setenv("VLLM_MODEL", "BAAI/bge-reranker-base")
    server = ok(answer((0, 1.0)))
    lco.VLLMRerank(http_client=server.client()).compress_documents([Document(page_content="a")], QUERY)
    assert str(server.requests[0].url) == "http://127.0.0.1:8001/v1/rerank"
    assert server.bodies()[0]["model"] == "BAAI/bge-reranker-base"


# ---------------------------------------------------------------- LlamaIndex


def li_nodes() -> list[NodeWithScore]:
    return [NodeWithScore(node=TextNode(text=text, id_=f"n{i}"), score=0.5 - i / 10) for i, text in enumerate(DOCS)]


def test_llamaindex_postprocessor_sets_scores_and_top_n() -> None:
    server = ok(answer((2, 3.5), (0, 1.5), (1, -2.0)))
    reranker = lio.OrbitLocalRerank(provider="llamacpp", base_url=LLAMACPP, top_n=2, http_client=server.client())
    ranked = reranker.postprocess_nodes(li_nodes(), query_str=QUERY)
    assert [(n.node.node_id, n.score) for n in ranked] == [("n2", 3.5), ("n0", 1.5)]
    body = server.bodies()[0]
    assert body == {"query": QUERY, "documents": DOCS, "top_n": 2}


async def test_llamaindex_async_postprocessor() -> None:
    server = ok(answer((1, 0.9), (0, 0.1), (2, 0.0)))
    reranker = lio.LlamaCppRerank(base_url=LLAMACPP, top_n=None, async_http_client=server.async_client())
    ranked = await reranker.apostprocess_nodes(li_nodes(), query_str=QUERY)
    assert [(n.node.node_id, n.score) for n in ranked] == [("n1", 0.9), ("n0", 0.1), ("n2", 0.0)]
    assert reranker._client is None


def test_llamaindex_keeps_the_retrieval_score_when_asked() -> None:
    server = ok(answer((1, 0.9), (0, 0.1)))
    nodes = li_nodes()[:2]
    reranker = lio.LlamaCppRerank(base_url=LLAMACPP, keep_retrieval_score=True, http_client=server.client())
    ranked = reranker.postprocess_nodes(nodes, query_str=QUERY)
    assert [(n.score, n.node.metadata["retrieval_score"]) for n in ranked] == [(0.9, 0.4), (0.1, 0.5)]


async def test_llamaindex_empty_nodes_and_missing_query() -> None:
    server = ok(answer())
    reranker = lio.LlamaCppRerank(base_url=LLAMACPP, http_client=server.client())
    assert reranker.postprocess_nodes([], query_str=QUERY) == []
    assert await reranker.apostprocess_nodes([], query_str=QUERY) == []
    with pytest.raises(ValueError, match="query"):
        reranker.postprocess_nodes(li_nodes())
    assert server.requests == []


def test_llamaindex_errors_are_orbit_local_errors() -> None:
    server = Recorder(httpx.Response(501, json=NOT_STARTED_WITH_RERANKING))
    reranker = lio.OrbitLocalRerank(provider="llamacpp", base_url=LLAMACPP, http_client=server.client())
    with pytest.raises(ol.UnsupportedFeatureError, match="Start it with `--reranking`"):
        reranker.postprocess_nodes(li_nodes(), query_str=QUERY)


def test_llamaindex_rerank_events_fire() -> None:
    from llama_index.core.instrumentation import get_dispatcher  # type: ignore[attr-defined]
    from llama_index.core.instrumentation.event_handlers import BaseEventHandler

    seen: list[str] = []

    class Collect(BaseEventHandler):
        def handle(self, event: Any, **kwargs: Any) -> None:
            seen.append(type(event).__name__)

    root = get_dispatcher()
    handler = Collect()
    root.add_event_handler(handler)
    try:
        server = ok(answer((0, 1.0)))
        lio.LlamaCppRerank(base_url=LLAMACPP, http_client=server.client()).postprocess_nodes(
            li_nodes()[:1], query_str=QUERY
        )
    finally:
        root.event_handlers.remove(handler)
    assert [name for name in seen if name.startswith("ReRank")] == ["ReRankStartEvent", "ReRankEndEvent"]


async def test_async_client_refuses_unsupported_before_sending() -> None:
    server = ok(answer((0, 1.0)))
    async with AsyncChatClient(
        "ollama", base_url="http://localhost:11434/v1", http_client=server.async_client()
    ) as client:
        with pytest.raises(ol.UnsupportedFeatureError):
            await client.rerank(QUERY, DOCS)
    assert server.requests == []


def test_in_process_gpt4all_has_no_reranker() -> None:
    from orbit_local.backends.gpt4all_direct import GPT4AllDirectClient

    with pytest.raises(ol.UnsupportedFeatureError, match="no reranker"):
        GPT4AllDirectClient.rerank(object(), QUERY, DOCS)  # type: ignore[arg-type]

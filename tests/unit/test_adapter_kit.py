"""The adapter kit (``orbit_local.features.adapter_kit``), shared by both frameworks: ``from_config``, misspelled keywords, detection.

What is promised comes from ``docs/configuration.md`` (arguments, then environment, then the
file; embeddings classes take the block's ``embedding_model``; a setting a class has no field for
is named in a warning) and from the warnings' own promise: they point at the user's line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import httpx
import pytest
from llama_index.core.base.llms.types import ChatMessage

import langchain_orbit_local as lc
import llamaindex_orbit_local as li
from orbit_local.facts.log import warn
from tests.fakes import FakeServer, langchain_on, llamaindex_on
from tests.inference_files import _no_server_env, write  # noqa: F401  (an autouse fixture)

HERE = os.path.abspath(__file__)


BLOCKS = """
lm_studio: {enabled: false, model: chat-a}
office:
  provider: lmstudio
  enabled: true
  base_url: "http://office:1234"
  model: chat-b
  embedding_model: embed-b
fastchat: {enabled: true, base_url: "http://127.0.0.1:8001"}
"""


def test_from_config_picks_the_named_block_or_the_first_for_the_class(tmp_path: Path) -> None:
    path = write(tmp_path, BLOCKS)
    assert lc.ChatLMStudio.from_config(path).model == "chat-b"  # the first enabled LM Studio block
    assert lc.ChatLMStudio.from_config(path, "lm_studio").model == "chat-a"  # the named one, even disabled
    assert li.LMStudio.from_config(path, name="lm_studio").model == "chat-a"
    generic = lc.ChatOrbitLocal.from_config(path)  # any server: the first enabled block
    assert (generic.provider, generic.base_url) == ("lmstudio", "http://office:1234/v1")
    assert li.OrbitLocal.from_config(path, "fastchat").provider == "fastchat"


def test_embeddings_take_the_embedding_model_never_the_chat_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, BLOCKS)
    assert lc.LMStudioEmbeddings.from_config(path).model == "embed-b"
    assert lc.LMStudioEmbeddings.from_config(path, "lm_studio").model is None  # a chat model is no embedder
    only_embed = tmp_path / "embed.yaml"
    only_embed.write_text("vllm:\n  enabled: true\n  embedding_model: bge-small\n")
    assert li.VLLMEmbedding.from_config(only_embed).model_name == "bge-small"
    monkeypatch.setenv("LMSTUDIO_MODEL", "from-env")  # the environment beats the file here too
    assert lc.LMStudioEmbeddings.from_config(path).model == "from-env"


def test_settings_a_class_cannot_take_are_named_at_the_callers_line(tmp_path: Path) -> None:
    path = write(tmp_path, "lm_studio:\n  enabled: true\n  temperature: 0.2\n  max_tokens: 64\n  embedding_model: e\n")
    with pytest.warns(UserWarning) as caught:
        lc.LMStudioEmbeddings.from_config(path)
    (warning,) = caught
    assert "max_tokens, temperature" in str(warning.message) and "LMStudioEmbeddings" in str(warning.message)
    assert (warning.filename, warning.lineno) == (HERE, _line_of("lc.LMStudioEmbeddings.from_config(path)\n"))


def _line_of(code: str) -> int:
    with open(HERE) as source:
        return next(n for n, line in enumerate(source, 1) if line.strip() == code.strip())


@pytest.mark.parametrize(
    ("build", "key", "hint"),
    [
        (lambda: lc.ChatLMStudio(temprature=0.1), "temprature", "Did you mean 'temperature'?"),
        (lambda: lc.ChatVLLM(max_tokenz=5), "max_tokenz", "Did you mean 'max_tokens'?"),
        (lambda: lc.ChatLMStudio(qqqq=1), "qqqq", None),
    ],
)
def test_a_misspelled_keyword_is_sent_with_a_warning_at_the_users_line(build, key: str, hint: str | None) -> None:  # type: ignore[no-untyped-def]
    with pytest.warns(UserWarning) as caught:
        build()
    (warning,) = [w for w in caught if key in str(w.message)]
    message = str(warning.message)
    if hint is None:
        assert message.endswith(f"[{key!r}].")  # no guess when nothing is close
    else:
        assert message.endswith(hint)
    assert warning.filename == HERE  # the line that built the model, not the library


def test_a_field_given_inside_model_kwargs_is_moved_out_with_a_warning() -> None:
    with pytest.warns(UserWarning) as caught:
        model = lc.ChatLMStudio(model_kwargs={"temperature": 0.3, "mirostat": 2})
    assert model.temperature == 0.3 and model.model_kwargs == {"mirostat": 2}
    (warning,) = [w for w in caught if "'temperature'" in str(w.message)]
    assert "pass it directly" in str(warning.message) and warning.category is UserWarning
    assert warning.filename == HERE


LLAMACPP_ROUTES = {
    "/props": {"default_generation_settings": {"n_ctx": 2048}, "build_info": "b6000"},
    "/v1/models": {"object": "list", "data": [{"id": "smollm2", "owned_by": "llamacpp"}]},
}


def _answer(request: httpx.Request) -> httpx.Response:
    body = LLAMACPP_ROUTES.get(request.url.path)
    return httpx.Response(200, json=body) if body is not None else httpx.Response(404, text="")


def _refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("refused", request=request)


def test_auto_detects_the_server_once_asked() -> None:
    sync = httpx.Client(transport=httpx.MockTransport(_answer))
    model = lc.ChatOrbitLocal(base_url="http://127.0.0.1:8080/v1", http_client=sync)
    assert model.provider_profile.name == "openai-compatible"  # nothing asked yet: no I/O
    assert model.detect_provider().name == "llamacpp"
    llm = li.OrbitLocal(base_url="http://127.0.0.1:8081/v1", async_http_client=httpx.AsyncClient(
        transport=httpx.MockTransport(_answer)))  # fmt: skip
    assert asyncio.run(llm.adetect_provider()).name == "llamacpp"


def test_nothing_answering_yet_leaves_the_generic_profile_without_raising() -> None:
    model = lc.ChatOrbitLocal(
        base_url="http://127.0.0.1:8082/v1",
        http_client=httpx.Client(transport=httpx.MockTransport(_refuse)),
        max_retries=0,  # a server that is starting is waited for; here nothing ever listens
    )
    assert model.detect_provider().name == "openai-compatible"
    llm = lc.ChatOrbitLocal(base_url="http://127.0.0.1:8083/v1", http_async_client=httpx.AsyncClient(
        transport=httpx.MockTransport(_refuse)), max_retries=0)  # fmt: skip
    assert asyncio.run(llm.adetect_provider()).name == "openai-compatible"


def _library_call() -> None:
    warn("llama.cpp server does not honour tool_choice='named'")


def test_warn_logs_and_points_at_the_first_frame_outside_the_library(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="orbit_local"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _library_call()
    (warning,) = caught
    assert warning.category is UserWarning
    # This test module is outside orbit-local: the warning names the line that called warn().
    assert (warning.filename, warning.lineno) == (
        HERE,
        _line_of("warn(\"llama.cpp server does not honour tool_choice='named'\")"),
    )
    assert [r.getMessage() for r in caplog.records] == ["llama.cpp server does not honour tool_choice='named'"]


@pytest.mark.parametrize("field", ["model", "model_name"])
def test_arguments_beat_the_environment(monkeypatch: pytest.MonkeyPatch, field: str) -> None:
    """docs/configuration.md: an argument, then the environment variable."""
    monkeypatch.setenv("LMSTUDIO_API_KEY", "sk-env")
    monkeypatch.setenv("LMSTUDIO_MODEL", "env-model")
    model = lc.ChatLMStudio(api_key="sk-arg", **{field: "arg-model"})
    assert model.api_key is not None and model.api_key.get_secret_value() == "sk-arg"
    assert model.model == "arg-model"
    unset = lc.ChatLMStudio()
    assert unset.api_key is not None and unset.api_key.get_secret_value() == "sk-env"
    assert unset.model == "env-model"


def test_the_key_and_per_call_stop_reach_the_server() -> None:
    server = FakeServer()
    chat = lc.ChatLMStudio(base_url="http://127.0.0.1:1234/v1", api_key="sk-local", http_client=server.client())
    chat.invoke("hi")
    llm = li.LMStudio(base_url="http://127.0.0.1:1234/v1", api_key="sk-local", http_client=server.client())
    llm.complete("hi", stop=["###"])
    chats = [r for r in server.requests if r.url.path.endswith("/chat/completions")]
    assert [r.headers.get("authorization") for r in chats] == ["Bearer sk-local"] * 2
    assert json.loads(chats[-1].content)["stop"] == ["###"]


# A call's request, built from the instance's settings and the call's keywords (docs/configuration.md:
# "a keyword given to one call wins over the instance's setting"; extra body fields, later winning:
# the instance's extra_body, model_kwargs / additional_kwargs, the call's extra_body, then any
# keyword nothing else handles, which is sent as a body field).
def li_message(text: str) -> ChatMessage:
    return ChatMessage(role="user", content=text)


@pytest.mark.parametrize("framework", ["langchain", "llamaindex"])
def test_a_call_keyword_wins_over_the_instance_and_none_lets_the_server_decide(framework: str) -> None:
    server = FakeServer()
    settings = {"temperature": 0.5, "seed": 7, "top_p": 0.9, "max_tokens": 64, "extra_body": {"a": 0, "b": 0}}
    if framework == "langchain":
        model = langchain_on(lc.ChatOrbitLocal, server, provider="openai-compatible", model_kwargs={"a": 1}, **settings)
        model.invoke("hi", temperature=None, seed=8, extra_body={"b": 2}, c=3)
        model.invoke("hi")
    else:
        llm = llamaindex_on(li.OrbitLocal, server, provider="openai-compatible", additional_kwargs={"a": 1}, **settings)
        llm.chat([li_message("hi")], temperature=None, seed=8, extra_body={"b": 2}, c=3)
        llm.chat([li_message("hi")])
    first, second = [json.loads(r.content) for r in server.requests if r.url.path.endswith("/chat/completions")]
    assert "temperature" not in first and first["seed"] == 8 and first["top_p"] == 0.9 and first["max_tokens"] == 64
    assert (first["a"], first["b"], first["c"]) == (1, 2, 3)
    # The next call is the instance's own again: nothing of the first call stays behind.
    assert (second["temperature"], second["seed"], second["a"], second["b"]) == (0.5, 7, 1, 0)
    assert "c" not in second


def test_a_raw_prompt_reaches_a_prompt_api_from_langchain_too() -> None:
    """LlamaIndex's ``complete`` sends its prompt as it is to prompt-only APIs (KoboldAI); a
    LangChain call that passes ``raw_prompt`` gets the same, not a keyword dropped in silence."""
    server = FakeServer()
    langchain_on(lc.ChatKoboldAI, server).invoke("the chat turn", raw_prompt="Once upon a time")
    generate = [json.loads(r.content) for r in server.requests if r.url.path.endswith("/generate")]
    assert generate and generate[-1]["prompt"] == "Once upon a time"


@pytest.mark.parametrize("framework", ["langchain", "llamaindex"])
@pytest.mark.parametrize("call_keywords", [{}, {"temperature": 0.2}], ids=["no-keywords", "keywords"])
def test_the_chat_template_setting_shapes_a_prompt_apis_prompt(framework: str, call_keywords: dict[str, Any]) -> None:
    """``chat_template`` is for prompt APIs (docs/configuration.md): KoboldAI's prompt is laid out
    with it, whether or not the call passes keywords of its own."""
    server = FakeServer()
    if framework == "langchain":
        langchain_on(lc.ChatKoboldAI, server, chat_template="llama3").invoke("hi", **call_keywords)
    else:
        llamaindex_on(li.KoboldAI, server, chat_template="llama3").chat([li_message("hi")], **call_keywords)
    generate = [json.loads(r.content) for r in server.requests if r.url.path.endswith("/generate")]
    assert "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>" in generate[-1]["prompt"]

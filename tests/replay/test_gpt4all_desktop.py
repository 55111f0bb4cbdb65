"""GPT4All's desktop app, built from source and recorded (step 10).

``make record PROVIDER=gpt4all-desktop-3.4.2 RECORD_ARGS="--base-url http://127.0.0.1:4891/v1
--server-version 3.4.2 --server-command 'tests/live/gpt4all_desktop.sh start 3.4.2'"`` with the
app started by ``tests/live/gpt4all_desktop.sh`` (gpt4all-chat v3.4.2 against Qt 6.4.2, headless,
SmolLM2-135M-Instruct Q4_1 sideloaded with its ChatML template).

Two kinds of test, each on its own recorded exchanges:

- *server facts*: raw requests (httpx, no orbit_local) that show what the server accepts,
  refuses and silently drops: its 400/404/405 answers, its 16-token default, its dropped
  system messages, its answer to an assistant turn last;
- *our classes*: the same asks through ``ChatGPT4All`` and ``GPT4All``, which must either work
  or fail with a typed error that says why and what to do.

Expected values come from the recordings (SmolLM2 at temperature 0) and from
gpt4all-chat/src/server.cpp at the tag.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.tools import tool
from llama_index.core.base.llms.types import ChatMessage, MessageRole

from langchain_orbit_local import ChatGPT4All
from llamaindex_orbit_local import GPT4All
from orbit_local import ModelFallbackWarning
from orbit_local.facts.errors import BadRequestError, UnsupportedFeatureError
from tests.targets import Target, gpt4all_desktop_targets

pytestmark = pytest.mark.vcr

TARGETS = [pytest.param(t, id=t.name) for t in gpt4all_desktop_targets()]
if not TARGETS:
    TARGETS = [pytest.param(None, marks=pytest.mark.skip(reason="no gpt4all-desktop cassettes recorded yet"), id="none")]

QUESTION = "What is the capital of France?"
FRENCH = "Reply in French."
# The answer to QUESTION up to the stop sequence " of" (recorded; 3.5+ apply SmolLM2's own template
# with its default system prompt, 3.4.2 the ChatML template the launcher sets, without one).
CUT_AT_OF = {"3.4.2": "The capital", "3.9.0": "L'Étoile, la Marseillaise. Paris is the capital"}  # a system prompt SmolLM2 follows (it ignores "answer with one word")


def version(target: Target) -> str:
    return target.name.removeprefix("gpt4all-desktop-")


def drops_system_messages(target: Target) -> bool:
    """3.0-3.4 skip system messages while parsing (server.cpp: ``continue; // FIXME(jared)``)."""
    return version(target).startswith("3.4")


def raw(target: Target, method: str, path: str, body: Any = None, *, content: bytes | None = None) -> httpx.Response:
    """A request as any OpenAI client would send it, without orbit_local."""
    with httpx.Client(timeout=300) as client:
        if content is not None:
            return client.request(method, target.base_url + path, content=content, headers={"content-type": "application/json"})
        return client.request(method, target.base_url + path, json=body)


def chat_body(target: Target, **extra: Any) -> dict[str, Any]:
    return {"model": target.chat_model, "messages": [{"role": "user", "content": QUESTION}], "temperature": 0, **extra}


def invalid(message: str) -> dict[str, Any]:
    """GPT4All's 400 envelope (server.cpp InvalidRequestError)."""
    return {"error": {"code": None, "message": message, "param": None, "type": "invalid_request_error"}}


def lc(target: Target, **kwargs: Any) -> ChatGPT4All:
    return ChatGPT4All(base_url=target.base_url, model=target.chat_model, temperature=0, **kwargs)


def li(target: Target, **kwargs: Any) -> GPT4All:
    return GPT4All(base_url=target.base_url, model=target.chat_model, temperature=0, **kwargs)


def sent_bodies(vcr: Any, path: str = "/v1/chat/completions") -> list[dict[str, Any]]:
    """The request bodies this test sent (recorded or replayed) to ``path``."""
    bodies = []
    for request in vcr.requests:
        if request.path == path and request.body:
            raw_body = request.body.decode() if isinstance(request.body, bytes) else request.body
            bodies.append(json.loads(raw_body))
    return bodies


@pytest.fixture
def default_cassette_name(request: pytest.FixtureRequest) -> str:
    """One cassette per test and parameter set (the target is the folder)."""
    name: str = request.node.originalname
    callspec = getattr(request.node, "callspec", None)
    params = {k: v for k, v in (callspec.params if callspec else {}).items() if k != "target"}
    if "name" in params:
        name += f"-{params['name']}"
    elif "path" in params:
        name += f"-{params['method']}{params['path'].replace('/', '-')}"
    return name


# --------------------------------------------------------------------------- models


def test_gpt4all_model_list_names_the_sideloaded_file(target: Target) -> None:
    assert [m.id for m in lc(target).list_models()] == [target.chat_model]
    assert [m.id for m in li(target).list_models()] == [target.chat_model]
    listed = raw(target, "GET", "/models").json()
    entry = listed["data"][0]
    assert listed["object"] == "list"
    assert entry["owned_by"] == "humanity" and entry["permissions"][0]["id"] == "placeholder"
    one = raw(target, "GET", f"/models/{target.chat_model}")
    assert one.status_code == 200 and one.json() == entry
    unknown = raw(target, "GET", "/models/no-such-model")
    assert unknown.status_code == 200 and unknown.json() == {}  # not a 404


# --------------------------------------------------------------------------- chat


def test_gpt4all_chat_through_both_frameworks(target: Target, vcr: Any) -> None:
    answer = lc(target).invoke(QUESTION)
    assert "Paris" in str(answer.content)
    assert answer.response_metadata["finish_reason"] == "stop"
    assert answer.response_metadata["model_name"] == target.chat_model
    assert answer.usage_metadata is not None and answer.usage_metadata["output_tokens"] > 0
    response = li(target).chat([ChatMessage(role=MessageRole.USER, content=QUESTION)])
    assert "Paris" in (response.message.content or "")
    raw_json = response.raw
    assert isinstance(raw_json, dict) and raw_json["id"] == "placeholder" and raw_json["object"] == "chat.completion"
    # the request our classes send: only keys GPT4All parses, and a max_tokens of ours
    for body in sent_bodies(vcr):
        assert set(body) <= {"model", "messages", "max_tokens", "temperature"}
        assert body["max_tokens"] == 1024


async def test_gpt4all_async_chat(target: Target) -> None:
    answer = await lc(target).ainvoke(QUESTION)
    assert "Paris" in str(answer.content)
    response = await li(target).achat([ChatMessage(role=MessageRole.USER, content=QUESTION)])
    assert "Paris" in (response.message.content or "")


def test_gpt4all_n_two_returns_two_answers(target: Target) -> None:
    reply = raw(target, "POST", "/chat/completions", chat_body(target, n=2, max_tokens=32)).json()
    assert [c["index"] for c in reply["choices"]] == [0, 1]
    result = lc(target, n=2, max_tokens=32).generate([[HumanMessage(QUESTION)]])
    assert len(result.generations[0]) == 2


# --------------------------------------------------------------------------- length


def test_gpt4all_server_default_cuts_answers_at_16_tokens(target: Target) -> None:
    reply = raw(target, "POST", "/chat/completions", chat_body(target, messages=[
        {"role": "user", "content": "Write a long story about a dragon."}
    ])).json()
    assert reply["usage"]["completion_tokens"] == 16
    assert reply["choices"][0]["finish_reason"] == "length"


def test_gpt4all_our_classes_are_not_cut_at_16_tokens(target: Target, vcr: Any) -> None:
    answer = lc(target).invoke("Describe Paris in three sentences.")  # no max_tokens set
    assert answer.usage_metadata is not None and answer.usage_metadata["output_tokens"] > 16
    assert answer.response_metadata["finish_reason"] == "stop"
    assert sent_bodies(vcr)[0]["max_tokens"] == 1024


# --------------------------------------------------------------------------- roles


def test_gpt4all_system_prompt_on_the_wire(target: Target) -> None:
    """Server fact: the same question with and without a system message."""
    plain = raw(target, "POST", "/chat/completions", chat_body(target)).json()
    with_system = raw(target, "POST", "/chat/completions", chat_body(target, messages=[
        {"role": "system", "content": FRENCH}, {"role": "user", "content": QUESTION}
    ])).json()
    if drops_system_messages(target):
        # dropped: not one more prompt token, the same answer
        assert with_system["usage"]["prompt_tokens"] == plain["usage"]["prompt_tokens"]
        assert with_system["choices"][0]["message"]["content"] == plain["choices"][0]["message"]["content"]
    else:
        # 3.5+ render it with the GGUF's chat template, in place of SmolLM2's default system prompt
        assert with_system["usage"]["prompt_tokens"] != plain["usage"]["prompt_tokens"]
        assert with_system["choices"][0]["message"]["content"] != plain["choices"][0]["message"]["content"]


def test_gpt4all_system_prompt_reaches_the_model_through_our_classes(target: Target, vcr: Any) -> None:
    answer = lc(target).invoke([SystemMessage(FRENCH), HumanMessage(QUESTION)])
    assert "de France" in str(answer.content)  # in French (recorded: "... la capital de France.", "... de France, ...")
    response = li(target).chat([
        ChatMessage(role=MessageRole.SYSTEM, content=FRENCH), ChatMessage(role=MessageRole.USER, content=QUESTION)
    ])
    assert response.message.content == answer.content
    for body in sent_bodies(vcr):
        assert body["messages"] == [{"role": "user", "content": f"{FRENCH}\n\n{QUESTION}"}]


def test_gpt4all_multi_turn_with_a_system_prompt(target: Target, vcr: Any) -> None:
    history = [
        SystemMessage("You are a geography tutor. Reply in French."),
        HumanMessage("What is the capital of Italy?"),
        AIMessage("The capital of Italy is Rome."),
        HumanMessage("And of Spain?"),
    ]
    answer = lc(target, max_tokens=64).invoke(history)
    assert answer.content
    response = li(target, max_tokens=64).chat([
        ChatMessage(role=MessageRole.SYSTEM, content="You are a geography tutor. Reply in French."),
        ChatMessage(role=MessageRole.USER, content="What is the capital of Italy?"),
        ChatMessage(role=MessageRole.ASSISTANT, content="The capital of Italy is Rome."),
        ChatMessage(role=MessageRole.USER, content="And of Spain?"),
    ])
    assert response.message.content == answer.content
    body = sent_bodies(vcr)[0]
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][0]["content"].startswith("You are a geography tutor.")


def test_gpt4all_two_user_turns_in_a_row(target: Target, vcr: Any) -> None:
    reply = raw(target, "POST", "/chat/completions", chat_body(target, messages=[
        {"role": "user", "content": "Hello."}, {"role": "user", "content": QUESTION}
    ]))
    if drops_system_messages(target):
        assert reply.status_code == 400
        assert reply.json() == invalid("Invalid 'messages[1].role': did not expect 'user' here")
    else:
        assert reply.status_code == 200
    answer = lc(target).invoke([HumanMessage("Hello."), HumanMessage(QUESTION)])
    assert "Paris" in str(answer.content)
    assert sent_bodies(vcr)[-1]["messages"] == [{"role": "user", "content": f"Hello.\n\n{QUESTION}"}]


def test_gpt4all_an_assistant_turn_last_is_answered_as_the_prompt(target: Target) -> None:
    """Server fact: 3.4.2 takes the last message as the prompt whatever its role (it answers the
    joke request: "What's a joke about cats? ..."); 3.9.0 takes it too, and its answer (recorded:
    "What's the capital of France?") answers neither turn."""
    reply = raw(target, "POST", "/chat/completions", chat_body(target, max_tokens=40, messages=[
        {"role": "user", "content": QUESTION}, {"role": "assistant", "content": "Tell me a joke about cats."}
    ]))
    assert reply.status_code == 200
    content = reply.json()["choices"][0]["message"]["content"]
    assert "Paris" not in content
    # our classes refuse it before sending (no exchange recorded for this call)
    with pytest.raises(UnsupportedFeatureError, match="ends with an assistant turn"):
        lc(target).invoke([HumanMessage(QUESTION), AIMessage("Tell me a joke about cats.")])


# --------------------------------------------------------------------------- stop, streaming, tools


def test_gpt4all_stop_sequences(target: Target, vcr: Any) -> None:
    refused = raw(target, "POST", "/chat/completions", chat_body(target, stop=[" of"]))
    assert refused.status_code == 400 and refused.json() == invalid("'stop' is not supported")
    answer = lc(target).invoke(QUESTION, stop=[" of"])
    assert answer.content == CUT_AT_OF[version(target)]
    assert answer.response_metadata["finish_reason"] == "stop"
    response = li(target, stop=[" of"]).chat([ChatMessage(role=MessageRole.USER, content=QUESTION)])
    assert response.message.content == CUT_AT_OF[version(target)]
    ours = sent_bodies(vcr)[1:]  # after the raw request
    assert len(ours) == 2 and all("stop" not in body for body in ours)


def test_gpt4all_streaming(target: Target, vcr: Any) -> None:
    refused = raw(target, "POST", "/chat/completions", chat_body(target, stream=True))
    assert refused.status_code == 400 and refused.json() == invalid("'stream' is not supported")
    chunks = list(lc(target).stream(QUESTION))
    assert "Paris" in "".join(str(c.content) for c in chunks)
    streamed = list(li(target).stream_chat([ChatMessage(role=MessageRole.USER, content=QUESTION)]))
    assert "Paris" in (streamed[-1].message.content or "")
    ours = sent_bodies(vcr)[1:]  # after the raw request
    assert len(ours) == 2 and all("stream" not in body for body in ours)


def test_gpt4all_tools(target: Target) -> None:
    weather = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}
    refused = raw(target, "POST", "/chat/completions", chat_body(target, tools=[weather]))
    assert refused.status_code == 400 and refused.json() == invalid("'tools' is not supported")
    refused = raw(target, "POST", "/chat/completions", chat_body(target, tool_choice="auto"))
    assert refused.status_code == 400 and refused.json() == invalid("'tool_choice' is not supported")

    @tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return "sunny"

    with pytest.raises(UnsupportedFeatureError, match="no tool calling"):
        lc(target).bind_tools([get_weather]).invoke("Weather in Paris?")
    assert li(target).metadata.is_function_calling_model is False


# --------------------------------------------------------------------------- /v1/completions


def test_gpt4all_completions_endpoint(target: Target) -> None:
    reply = raw(target, "POST", "/completions", {
        "model": target.chat_model, "prompt": "The capital of France is", "max_tokens": 8, "temperature": 0
    })
    assert reply.status_code == 200
    payload = reply.json()
    assert payload["object"] == "text_completion" and payload["id"] == "placeholder"
    assert payload["choices"][0]["text"] and payload["usage"]["completion_tokens"] <= 8
    refused = raw(target, "POST", "/completions", {"model": target.chat_model, "prompt": "Hi", "stream": True})
    assert refused.status_code == 400 and refused.json() == invalid("'stream' is not supported")
    refused = raw(target, "POST", "/completions", {"model": target.chat_model, "prompt": "Hi", "suffix": "!"})
    assert refused.status_code == 400 and refused.json() == invalid("'suffix' is not supported")


# --------------------------------------------------------------------------- 400, 404, 405


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        ("unknown-key", {"seed_value": 1}, "Unrecognized request argument supplied: seed_value"),
        ("temperature", {"temperature": 3}, None),
        ("seed", {"seed": 7}, "'seed' is not supported"),
        ("penalty", {"presence_penalty": 0.5}, "'presence_penalty' is not supported"),
        ("response-format", {"response_format": {"type": "json_object"}}, "'response_format' is not supported"),
        ("tool-role", {"messages": [{"role": "tool", "content": "2"}]}, None),
        ("content-parts", {"messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]}, None),
        ("message-name", {"messages": [{"role": "user", "content": "Hi", "name": "ann"}]},
         "Invalid 'messages[0]': unrecognized key: 'name'"),
        ("no-messages", {"messages": None}, None),
    ],
)
def test_gpt4all_400s(target: Target, name: str, body: dict[str, Any], message: str | None) -> None:
    request = {k: v for k, v in chat_body(target, **body).items() if v is not None}
    reply = raw(target, "POST", "/chat/completions", request)
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"]
    if message is not None:
        assert error["message"] == message


def test_gpt4all_malformed_json_is_a_400(target: Target) -> None:
    reply = raw(target, "POST", "/chat/completions", content=b'{"model": ')
    assert reply.status_code == 400
    assert reply.json()["error"]["message"].startswith("error parsing request JSON")


def test_gpt4all_a_400_through_our_classes_is_a_bad_request_error(target: Target) -> None:
    with pytest.raises(BadRequestError) as caught:
        ChatGPT4All(base_url=target.base_url, model=target.chat_model, temperature=3, max_retries=0).invoke(QUESTION)
    assert caught.value.status_code == 400
    assert "temperature" in str(caught.value)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/no-such-route", 404),
        ("POST", "/embeddings", 404),
        ("GET", "/chat/completions", 405),
        ("GET", "/completions", 405),
        ("POST", "/models", 405),
    ],
)
def test_gpt4all_404_and_405(target: Target, method: str, path: str, status: int) -> None:
    reply = raw(target, method, path, {} if method == "POST" else None)
    assert reply.status_code == status
    if status == 404:
        assert reply.content == b""  # Qt's own 404: no body at all
    else:
        assert reply.json()["error"]["message"]


# --------------------------------------------------------------------------- model names


def test_gpt4all_an_unknown_model_is_answered_by_the_default_model(target: Target) -> None:
    reply = raw(target, "POST", "/chat/completions", {**chat_body(target, max_tokens=16), "model": "no-such-model"})
    assert reply.status_code == 200
    assert reply.json()["model"] == target.chat_model  # the answer names the model that served it
    unknown = ChatGPT4All(base_url=target.base_url, model="no-such-model", temperature=0, max_tokens=16)
    with pytest.warns(ModelFallbackWarning, match="not the requested 'no-such-model'"):
        answer = unknown.invoke(QUESTION)
    assert answer.response_metadata["model_name"] == target.chat_model

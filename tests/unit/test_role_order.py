"""GPT4All takes turns strictly: same-role turns are merged, an assistant turn first or last
is refused before sending (step 9), and system messages, which 3.0-3.4 drop while parsing,
reach the model at the head of the next user turn (step 10, recorded from GPT4All 3.4.2:
tests/replay/test_gpt4all_desktop.py).

The rule the fitted messages must pass is GPT4All 3.4.2's own request parser
(gpt4all-chat/src/server.cpp, ``ChatRequest::parseImpl``): system messages are skipped
(``continue``), then each message's role must be ``nextRole``, which starts as user and
flips after every turn; anything else is 400 ``Invalid 'messages[i].role': did not expect
'<role>' here``.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from orbit_local.facts.errors import UnsupportedFeatureError
from orbit_local.facts.providers import get_provider
from orbit_local.facts.types import ChatRequest, Message, ToolCall
from orbit_local.protocols.openai import OpenAIProtocol
from orbit_local.protocols.roles import fit_role_order, fold_system_messages, merge_content
from tests.fakes import FakeServer

URL = "http://127.0.0.1:4891/v1"


def gpt4all_342_accepts(messages: list[dict[str, Any]]) -> bool:
    """server.cpp v3.4.2's role check, as written there."""
    next_role = "user"
    for message in messages:
        if message["role"] == "system":
            continue
        if message["role"] != next_role:
            return False
        next_role = "assistant" if message["role"] == "user" else "user"
    return True


def sent(messages: list[Message], provider: str = "gpt4all") -> list[dict[str, Any]]:
    protocol = OpenAIProtocol(get_provider(provider), URL)
    body = protocol.chat_request(ChatRequest(model="m", messages=messages), stream=False).json or {}
    return list(body["messages"])


def test_two_user_turns_become_one_joined_with_a_blank_line() -> None:
    messages = [Message(role="user", content="a"), Message(role="user", content="b")]
    assert sent(messages) == [{"role": "user", "content": "a\n\nb"}]


def test_same_role_runs_merge_and_the_system_text_leads_the_next_user_turn() -> None:
    messages = [
        Message(role="system", content="be brief"),
        Message(role="user", content="q1"),
        Message(role="user", content="q2"),
        Message(role="assistant", content="r1"),
        Message(role="assistant", content="r2"),
        Message(role="user", content="q3"),
    ]
    assert sent(messages) == [
        {"role": "user", "content": "be brief\n\nq1\n\nq2"},
        {"role": "assistant", "content": "r1\n\nr2"},
        {"role": "user", "content": "q3"},
    ]


def test_a_system_message_between_two_user_turns_goes_into_the_merged_turn_before_the_second() -> None:
    messages = [
        Message(role="user", content="a"),
        Message(role="system", content="now answer in French"),
        Message(role="user", content="b"),
    ]
    assert sent(messages) == [{"role": "user", "content": "a\n\nnow answer in French\n\nb"}]


def test_system_messages_with_no_user_turn_after_them_become_the_last_user_turn() -> None:
    only = [Message(role="system", content="s1"), Message(role="system", content="s2")]
    assert sent(only) == [{"role": "user", "content": "s1\n\ns2"}]
    messages = [Message(role="user", content="q"), Message(role="assistant", content="r"), *only]
    assert sent(messages)[-1] == {"role": "user", "content": "s1\n\ns2"}


def test_no_system_message_reaches_gpt4all_but_servers_with_a_system_role_keep_theirs() -> None:
    messages = [Message(role="system", content="s"), Message(role="user", content="q")]
    assert [m["role"] for m in sent(messages)] == ["user"]
    assert [m["role"] for m in sent(messages, "lmstudio")] == ["system", "user"]


def test_a_tool_result_merges_with_the_user_turn_next_to_it() -> None:
    call = ToolCall(id="c1", name="add", arguments={"a": 1})
    messages = [
        Message(role="user", content="add"),
        Message(role="assistant", content="", tool_calls=[call]),
        Message(role="tool", content="2", tool_call_id="c1"),
        Message(role="user", content="thanks, and?"),
    ]
    fitted = sent(messages)
    assert [m["role"] for m in fitted] == ["user", "assistant", "user"]
    assert fitted[2]["content"] == "Result of tool call c1:\n2\n\nthanks, and?"
    assert gpt4all_342_accepts(fitted)


def test_every_order_that_starts_and_ends_with_a_user_turn_passes_gpt4all_342() -> None:
    for roles in itertools.product(("system", "user", "assistant"), repeat=5):
        turns = [r for r in roles if r != "system"]
        if turns and turns[0] == "assistant":
            continue
        if turns and turns[-1] == "assistant" and roles[-1] != "system":
            continue
        messages = [Message(role=role, content=f"{role}{i}") for i, role in enumerate(roles)]
        fitted = sent(messages)
        assert gpt4all_342_accepts(fitted), roles
        assert fitted[-1]["role"] == "user" and all(m["role"] != "system" for m in fitted), roles
        # nothing dropped: every text still there, in order
        text = " ".join(str(m["content"]) for m in fitted)
        for message in messages:
            assert message.content in text


@pytest.mark.parametrize("lead", [[], [Message(role="system", content="s")]])
def test_an_assistant_turn_first_is_refused_before_sending(lead: list[Message]) -> None:
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    from langchain_orbit_local import ChatGPT4All

    server = FakeServer()
    model = ChatGPT4All(model="m", base_url=URL, http_client=server.client())
    history = [SystemMessage("s")] if lead else []
    with pytest.raises(UnsupportedFeatureError) as caught:
        model.invoke([*history, AIMessage("Hello! How can I help?"), HumanMessage("hi")])
    assert "GPT4All" in str(caught.value) and URL in str(caught.value)
    assert "user message" in (caught.value.hint or "")
    assert [r for r in server.requests if r.url.path.endswith("/chat/completions")] == []


def test_an_assistant_turn_last_is_refused_before_sending() -> None:
    from llama_index.core.base.llms.types import ChatMessage

    from llamaindex_orbit_local import GPT4All

    server = FakeServer()
    llm = GPT4All(model="m", base_url=URL, http_client=server.client())
    with pytest.raises(UnsupportedFeatureError) as caught:
        llm.chat([ChatMessage(role="user", content="Hi"), ChatMessage(role="assistant", content="Hello")])
    assert "ends with an assistant turn" in str(caught.value)
    assert "end the conversation with a user message" in (caught.value.hint or "")
    assert [r for r in server.requests if r.url.path.endswith("/chat/completions")] == []


def test_the_merged_request_is_what_reaches_the_server() -> None:
    from llama_index.core.base.llms.types import ChatMessage

    from llamaindex_orbit_local import GPT4All

    server = FakeServer()
    llm = GPT4All(model="m", base_url=URL, http_client=server.client())
    llm.chat([ChatMessage(role="user", content="a"), ChatMessage(role="user", content="b")])
    assert server.bodies()[-1]["messages"] == [{"role": "user", "content": "a\n\nb"}]


def test_servers_without_the_flag_get_turns_as_they_are() -> None:
    messages = [
        Message(role="assistant", content="hello"),
        Message(role="user", content="a"),
        Message(role="user", content="b"),
    ]
    assert [m["role"] for m in sent(messages, "lmstudio")] == ["assistant", "user", "user"]


IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}


@pytest.mark.parametrize(
    ("first", "second", "merged"),
    [
        # a part list, then a string: the string becomes a text part after a blank-line part
        (
            [IMAGE, {"type": "text", "text": "What is this?"}],
            "And this?",
            [
                IMAGE,
                {"type": "text", "text": "What is this?"},
                {"type": "text", "text": "\n\n"},
                {"type": "text", "text": "And this?"},
            ],
        ),
        # a string, then a part list
        (
            "Look:",
            [IMAGE],
            [{"type": "text", "text": "Look:"}, {"type": "text", "text": "\n\n"}, IMAGE],
        ),
    ],
)
def test_turns_with_content_parts_merge_part_by_part_in_order(
    first: Any, second: Any, merged: list[dict[str, Any]]
) -> None:
    """A strict-turn server that takes part lists (a profile with ``alternating_roles`` and
    images) gets one user turn whose parts are both turns' parts in order, each part in the
    OpenAI ``{"type": "text", "text": ...}`` shape, a blank line between the turns."""
    wire = [{"role": "user", "content": first}, {"role": "user", "content": second}]
    fitted = fit_role_order(wire, get_provider("gpt4all"), URL)
    assert fitted == [{"role": "user", "content": merged}]
    assert gpt4all_342_accepts(fitted)


# --- the refusals' words, system messages kept or folded, and merged parts ------------------------
# Both refusals name the server and URL and say what the server would do; system messages stay in
# place where the server keeps them; a system text waits for the next *user* turn; empty turns and
# part lists merge without stray parts. The server facts are GPT4All's parser's (above, and
# ../shared/providers/gpt4all.md): user first, then assistant and user alternating, anything else
# HTTP 400; system messages skipped while parsing (3.0-3.4).


GPT4ALL = get_provider("gpt4all")
BLANK = {"type": "text", "text": "\n\n"}


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def test_an_assistant_turn_first_is_refused_naming_the_server_its_rule_and_the_fix() -> None:
    wire = [{"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "hi"}]
    with pytest.raises(UnsupportedFeatureError) as caught:
        fit_role_order(wire, GPT4ALL, URL)
    error = caught.value
    assert (error.provider, error.base_url) == ("GPT4All", URL)
    assert "starts with an assistant turn" in error.message
    # the server's rule and its answer (server.cpp): user first, then alternating; else 400
    assert "user first, then assistant and user alternating" in error.message
    assert "HTTP 400" in error.message
    assert "start the conversation with a user message" in (error.hint or "")
    assert "put its text in the system message" in (error.hint or "")


def test_an_assistant_turn_last_is_refused_naming_the_server_what_it_would_do_and_the_fix() -> None:
    wire = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    with pytest.raises(UnsupportedFeatureError) as caught:
        fit_role_order(wire, GPT4ALL, URL)
    error = caught.value
    assert (error.provider, error.base_url) == ("GPT4All", URL)
    assert str(error).startswith(f"GPT4All at {URL}: ")
    assert "ends with an assistant turn" in error.message
    # what each version does with it (3.4.2 and 3.9.0, recorded)
    assert "GPT4All 3.3-3.4" in error.message
    assert "answered as if the user had written it" in error.message
    assert "instead of continuing it" in error.message
    assert "put the instruction in the last user message" in (error.hint or "")


def test_where_the_server_keeps_system_messages_they_stay_in_place_and_the_turns_after_them_are_fitted() -> None:
    keeps_system = GPT4ALL.with_overrides(system_role=True)
    wire = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "a"},
        {"role": "user", "content": "b"},
        {"role": "system", "content": "now in French"},
        {"role": "assistant", "content": "r"},
        {"role": "user", "content": "c"},
    ]
    assert fit_role_order(wire, keeps_system, URL) == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "a\n\nb"},
        {"role": "system", "content": "now in French"},
        {"role": "assistant", "content": "r"},
        {"role": "user", "content": "c"},
    ]


def test_a_system_text_before_an_assistant_turn_waits_for_the_next_user_turn() -> None:
    wire = [
        {"role": "user", "content": "q1"},
        {"role": "system", "content": "answer in French"},
        {"role": "assistant", "content": "r1"},
        {"role": "user", "content": "q2"},
    ]
    assert fit_role_order(wire, GPT4ALL, URL) == [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "r1"},
        {"role": "user", "content": "answer in French\n\nq2"},
    ]


@pytest.mark.parametrize("then_user", [True, False], ids=["before-a-user-turn", "at-the-end"])
def test_a_system_message_made_of_parts_keeps_its_parts_first_with_no_blank_part_before_them(then_user: bool) -> None:
    wire: list[dict[str, Any]] = [{"role": "system", "content": [_text("be brief")]}]
    if then_user:
        wire.append({"role": "user", "content": "q"})
    folded = fold_system_messages(wire)
    expected = [_text("be brief"), BLANK, _text("q")] if then_user else [_text("be brief")]
    assert folded == [{"role": "user", "content": expected}]


def test_an_empty_turn_adds_no_part_to_a_part_list() -> None:
    """No ``{"type": "text", "text": ""}`` (or ``None``) part, which a server may refuse."""
    assert merge_content([IMAGE], "") == [IMAGE, BLANK]
    assert merge_content([IMAGE, _text("x")], None) == [IMAGE, _text("x"), BLANK]

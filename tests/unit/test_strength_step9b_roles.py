"""Strict turn order (orbit_local/protocols/roles.py): the seams the step 9 mutation run left
unpinned — both refusals name the server and URL and say what the server would do; system
messages stay in place where the server keeps them; a system text waits for the next *user*
turn; empty turns and part lists merge without stray parts.

The server facts come from GPT4All's own parser (gpt4all-chat/src/server.cpp v3.3-3.4, see
test_role_order.py and ../shared/providers/gpt4all.md): user first, then assistant and user
alternating, anything else HTTP 400; system messages skipped while parsing (3.0-3.4).
"""

from __future__ import annotations

from typing import Any

import pytest

from orbit_local.errors import UnsupportedFeatureError
from orbit_local.protocols.roles import fit_role_order, fold_system_messages, merge_content
from orbit_local.providers import get_provider

URL = "http://127.0.0.1:4891/v1"
GPT4ALL = get_provider("gpt4all")
IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
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

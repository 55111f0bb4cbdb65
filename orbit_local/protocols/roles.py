"""Role order for servers that take turns strictly (GPT4All's desktop server).

GPT4All 3.3 and 3.4 parse ``messages`` as user, assistant, user, ... and answer anything else
with HTTP 400 ``Invalid 'messages[i].role': did not expect 'user' here``; system messages
are skipped before that check (gpt4all-chat/src/server.cpp, v3.3.0-v3.4.2: ``continue; //
FIXME(jared): don't ignore these``), and the last message is answered as the user's prompt
whatever its role. Later versions accept any order. Where the profile says
``alternating_roles``, the wire messages are fitted before sending, the same way for every
such server:

- two or more turns of one role in a row become one turn, their texts joined with a blank
  line; the merged turn stands where the last of them stood;
- system messages are no turn; where the profile says ``system_role=False`` (the server would
  drop them: recorded from GPT4All 3.4.2, cassettes/gpt4all-desktop-3.4.2/) their text goes
  at the head of the next user turn, joined with a blank line (a system message with no user
  turn after it becomes a user turn of its own), so the model still reads it; otherwise they
  stay where they are. Tool results, which these servers receive as user turns, merge like
  any user turn;
- an assistant turn before any user turn cannot be fitted without inventing a question, and
  an assistant turn last would be answered as if the user had written it (3.4.2, recorded;
  3.9.0 renders it as history and writes a new assistant turn, no continuation): both are
  refused with :class:`UnsupportedFeatureError` before anything is sent.

Sans-IO: wire message dicts in, wire message dicts out.
"""

from __future__ import annotations

from typing import Any

from orbit_local.facts.errors import UnsupportedFeatureError
from orbit_local.facts.providers import ProviderProfile

TURN_SEPARATOR = "\n\n"
"""Between the texts of merged turns: a blank line keeps them apart as paragraphs."""

TURN_ROLES = ("user", "assistant")


def _parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, list):
        return list(content)
    return [{"type": "text", "text": content}] if content else []


def merge_content(first: Any, second: Any) -> Any:
    """Two turns' ``content`` as one: strings joined with a blank line (an empty one adds
    nothing); where either is a part list, the parts of both in order."""
    if isinstance(first, list) or isinstance(second, list):
        return [*_parts(first), {"type": "text", "text": TURN_SEPARATOR}, *_parts(second)]
    texts = [text for text in (first, second) if text]
    return TURN_SEPARATOR.join(str(text) for text in texts)


def fold_system_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """System messages moved into the next user turn (text first, then a blank line).

    For servers that drop system messages: every system text reaches the model as part of a
    user turn, in order; system messages after the last user turn become a user turn of
    their own at the end.
    """
    out: list[dict[str, Any]] = []
    pending: list[Any] = []
    for message in messages:
        role = message.get("role")
        if role == "system":
            pending.append(message.get("content"))
            continue
        if role == "user" and pending:
            content: Any = None
            for text in [*pending, message.get("content")]:
                content = text if content is None else merge_content(content, text)
            message = {**message, "content": content}
            pending = []
        out.append(message)
    if pending:
        content = None
        for text in pending:
            content = text if content is None else merge_content(content, text)
        out.append({"role": "user", "content": content})
    return out


def fit_role_order(messages: list[dict[str, Any]], profile: ProviderProfile, base_url: str) -> list[dict[str, Any]]:
    """The messages with user and assistant turns alternating, starting with a user turn.

    Raises:
        UnsupportedFeatureError: an assistant turn comes before any user turn, or last.
    """
    if not profile.system_role:
        messages = fold_system_messages(messages)
    out: list[dict[str, Any]] = []
    last_turn: int | None = None  # index in ``out`` of the last user or assistant turn
    for message in messages:
        role = message.get("role")
        if role not in TURN_ROLES:
            out.append(message)
            continue
        if last_turn is None and role == "assistant":
            raise UnsupportedFeatureError(
                "the conversation starts with an assistant turn; this server takes turns strictly "
                "(user first, then assistant and user alternating) and answers such a request with HTTP 400",
                provider=profile.display_name,
                base_url=base_url,
                hint="start the conversation with a user message: drop the opening assistant message, "
                "or put its text in the system message",
            )
        if last_turn is not None and out[last_turn]["role"] == role:
            previous = out.pop(last_turn)
            message = {**message, "content": merge_content(previous.get("content"), message.get("content"))}
        out.append(message)
        last_turn = len(out) - 1
    if last_turn is not None and out[last_turn]["role"] == "assistant":
        raise UnsupportedFeatureError(
            "the conversation ends with an assistant turn; GPT4All 3.3-3.4 answer the last message as the "
            "user's prompt whatever its role (the assistant's text would be answered as if the user had "
            "written it), and 3.5+ write a new assistant turn after it instead of continuing it",
            provider=profile.display_name,
            base_url=base_url,
            hint="end the conversation with a user message (the server cannot continue an assistant "
            "message); to prefill an answer, put the instruction in the last user message",
        )
    return out

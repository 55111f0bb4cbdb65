"""Reasoning written into the answer as ``<think>…</think>``, split out of it.

Servers that do not separate reasoning (FastChat, LM Studio with the setting off, llama.cpp
with ``reasoning_format: none``) return it inside ``content``. The tags must never reach the
answer: :func:`split_think` handles a whole text, :class:`ThinkSplitter` a stream whose tags may
be cut anywhere across chunks.
"""

from __future__ import annotations

OPEN = "<think>"
CLOSE = "</think>"


def split_think(text: str) -> tuple[str, str]:
    """``(answer, reasoning)`` of a whole text.

    A text with only a closing tag (the template opened the think block in the prompt) has
    everything before that tag as reasoning.
    """
    if OPEN not in text and CLOSE not in text:
        return text, ""
    answer: list[str] = []
    reasoning: list[str] = []
    rest = text
    if CLOSE in rest and (OPEN not in rest or rest.index(CLOSE) < rest.index(OPEN)):
        before, _, rest = rest.partition(CLOSE)
        reasoning.append(before)
    while OPEN in rest:
        before, _, rest = rest.partition(OPEN)
        answer.append(before)
        inside, found, rest = rest.partition(CLOSE)
        reasoning.append(inside)
        if not found:
            break
    answer.append(rest)
    return "".join(answer).strip(), "".join(reasoning).strip()


def _partial_tag(text: str) -> int:
    """Length of an end of ``text`` that could be the start of a tag."""
    for size in range(min(len(CLOSE) - 1, len(text)), 0, -1):
        tail = text[-size:]
        if OPEN.startswith(tail) or CLOSE.startswith(tail):
            return size
    return 0


class ThinkSplitter:
    """Streamed content in, ``(answer, reasoning)`` pieces out; tags never pass through.

    In a stream, text that came before a lone closing tag has already been sent as answer:
    only the tag itself is dropped (whole responses use :func:`split_think`, which moves it).
    """

    __slots__ = ("_held", "_inside", "_started")

    def __init__(self) -> None:
        self._inside = False
        self._held = ""
        self._started = False

    def feed(self, piece: str) -> tuple[str, str]:
        text = self._held + piece
        if "<" not in text:
            self._held = ""
            return ("", text) if self._inside else (text, "")
        answer: list[str] = []
        reasoning: list[str] = []
        while True:
            tag = CLOSE if self._inside else OPEN
            at = text.find(tag)
            stray = -1 if self._inside else text.find(CLOSE)
            if stray >= 0 and (at < 0 or stray < at):
                answer.append(text[:stray])  # a closing tag with no opener: drop the tag
                text = text[stray + len(CLOSE) :]
                continue
            if at < 0:
                break
            (reasoning if self._inside else answer).append(text[:at])
            text = text[at + len(tag) :]
            self._inside = not self._inside
        hold = _partial_tag(text)
        self._held = text[len(text) - hold :] if hold else ""
        (reasoning if self._inside else answer).append(text[: len(text) - hold] if hold else text)
        return "".join(answer), "".join(reasoning)

    def flush(self) -> tuple[str, str]:
        held, self._held = self._held, ""
        return ("", held) if self._inside else (held, "")

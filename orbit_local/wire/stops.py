"""Client-side stop sequences: cut at the earliest stop, and hold back a possible prefix.

Used where the server (or in-process engine) cannot be trusted to stop and trim by itself:
KoboldAI's generate API reports a stop-sequence hit as "length" and keeps the stop text,
and GPT4All's engine takes no stop sequences at all.
"""

from __future__ import annotations


def split_at_stop(text: str, stops: list[str]) -> tuple[str, bool]:
    """``text`` cut before the earliest stop sequence, and whether one was found."""
    positions = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    if not positions:
        return text, False
    return text[: min(positions)], True


def unsafe_tail(text: str, stops: list[str]) -> int:
    """Length of the longest end of ``text`` that could begin a stop sequence (held back)."""
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), longest, -1):
            if stop.startswith(text[-size:]):
                longest = size
                break
    return longest


class StopScanner:
    """Feeds text pieces; returns what is safe to emit and whether a stop was hit."""

    __slots__ = ("_pending", "_stops", "stopped")

    def __init__(self, stops: list[str]) -> None:
        self._stops = [s for s in stops if s]
        self._pending = ""
        self.stopped = False

    def feed(self, piece: str) -> str:
        if self.stopped:
            return ""
        text = self._pending + piece
        cut, found = split_at_stop(text, self._stops)
        if found:
            self.stopped = True
            self._pending = ""
            return cut
        hold = unsafe_tail(text, self._stops)
        self._pending = text[len(text) - hold :] if hold else ""
        return text[: len(text) - hold] if hold else text

    def flush(self) -> str:
        """End of generation: whatever was held back was not a stop after all."""
        rest, self._pending = self._pending, ""
        return rest

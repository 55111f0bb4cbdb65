"""The incremental SSE decoder: bytes in, events out, at any byte boundary.

It is a small state machine in the style of openai-python's ``SSEDecoder``: it does no I/O and
does not care whether bytes came from a socket, a cassette or a test that splits a stream one
byte at a time. It is on the streaming hot path, so the common case (LF line ends, ``data:``
lines) takes the shortest route. Every chat stream we read is SSE, KoboldCpp's native API
included; :class:`NDJSONDecoder` reads the one newline-delimited JSON stream we need, Ollama's
model download progress (``/api/pull``).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import Any

MAX_EVENT_SIZE = 8 * 1024 * 1024
"""The most characters one event may hold (its data lines, or a line still unfinished).

Chat servers send a token or a few per event; the largest real event is a whole answer sent
as one (some servers do when a stream cannot be produced), well under this. Without a bound,
a server that never ends its event would fill memory."""


class EventTooLargeError(ValueError):
    """One event (or one line) is longer than the decoder's ``max_event_size``."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"one event of {size} characters or more (the limit is {limit})")
        self.size = size
        self.limit = limit

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from its fields (not from its message), so it survives pickle whole.
        return (type(self), (self.size, self.limit))


@dataclass(slots=True)
class SSEEvent:
    """One dispatched Server-Sent Event (https://html.spec.whatwg.org/#server-sent-events)."""

    data: str
    event: str = "message"
    id: str | None = None
    truncated: bool = False
    """Flushed at the end of the body from a line that never ended: the connection may have
    dropped mid-event, so a parse failure here means a cut stream, not a malformed one."""


class SSEDecoder:
    """Decode a ``text/event-stream`` body fed in arbitrary chunks.

    Handles LF, CRLF and lone CR line ends (also a CRLF split across two chunks), comment
    lines, multi-line ``data`` fields, fields without a colon, a UTF-8 character split across
    chunks, and a last event that has no trailing blank line (call :meth:`flush` at the end).

    An event (or a line) longer than ``max_event_size`` characters raises
    :class:`EventTooLargeError`: memory stays bounded whatever the server sends.
    """

    __slots__ = (
        "_data",
        "_data_size",
        "_decoder",
        "_event",
        "_has_data",
        "_id",
        "_max_event_size",
        "_partial",
        "_partial_size",
    )

    def __init__(self, max_event_size: int = MAX_EVENT_SIZE) -> None:
        self._max_event_size = max_event_size
        # Strict: invalid UTF-8 raises (UnicodeDecodeError) instead of turning into U+FFFD, so a
        # streamed answer is never altered in silence (a whole JSON answer is not either).
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
        self._partial: list[str] = []  # the line in progress, in pieces: joined once, at its end
        self._partial_size = 0
        self._data: list[str] = []
        self._data_size = 0  # characters in _data, kept as it grows: never summed again
        self._has_data = False
        self._event = "message"
        self._id: str | None = None

    @property
    def holding(self) -> int:
        """Characters of an event still in progress (keep-alive comments do not count): a
        number that grows while a long event arrives slowly, and stays put during pings."""
        partial = 0 if (self._partial and self._partial[0].startswith(":")) else self._partial_size
        return partial + self._data_size

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Consume bytes; return the events they completed (possibly none)."""
        text = self._decoder.decode(chunk)
        if not text:
            return []
        if "\n" not in text and "\r" not in text and not (self._partial and self._partial[-1].endswith("\r")):
            # No line ends here: keep the piece, so a very long line costs linear time.
            self._partial.append(text)
            self._partial_size += len(text)
            self._check_size()
            return []
        events = self._consume(self._take_partial() + text, final=False)
        self._check_size()
        return events

    def _check_size(self) -> None:
        size = self._partial_size + self._data_size
        if size > self._max_event_size:
            raise EventTooLargeError(size, self._max_event_size)

    def _take_partial(self) -> str:
        held = "".join(self._partial)
        self._partial = []
        self._partial_size = 0
        return held

    def flush(self) -> list[SSEEvent]:
        """End of input: dispatch a pending event even without its blank line."""
        text = self._take_partial() + self._decoder.decode(b"", final=True)
        unterminated = bool(text) and not text.endswith(("\n", "\r"))
        events = self._consume(text, final=True) if text else []
        if self._has_data:
            events.append(self._dispatch())
            events[-1].truncated = unterminated
        return events

    def _consume(self, text: str, *, final: bool) -> list[SSEEvent]:
        held_cr = ""
        if not final and text.endswith("\r"):
            # Might be the first half of a CRLF; decide when the next chunk arrives.
            text, held_cr = text[:-1], "\r"
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        rest = ("" if final else lines.pop()) + held_cr
        if rest:
            self._partial = [rest]
            self._partial_size = len(rest)
        # The event in progress lives in locals while the lines are read (this runs once per
        # token) and goes back to the decoder's fields at the end; one dispatch step for both.
        events: list[SSEEvent] = []
        data, size, has_data, kind = self._data, self._data_size, self._has_data, self._event
        limit = self._max_event_size
        for line in lines:
            if not line:
                if has_data:
                    events.append(SSEEvent(data[0] if len(data) == 1 else "\n".join(data), kind, self._id))
                    data, size, has_data = [], 0, False
                kind = "message"
                continue
            if line.startswith("data:"):
                value = line[6:] if line.startswith("data: ") else line[5:]
                data.append(value)
                size += len(value)
                has_data = True
                if size > limit:  # also an event that arrived whole
                    raise EventTooLargeError(size, limit)
            elif line[0] == ":":
                continue  # comment / keep-alive
            else:
                name, sep, value = line.partition(":")
                if sep and value.startswith(" "):
                    value = value[1:]
                if name == "event":
                    kind = value or "message"
                elif name == "data":  # "data" with no colon: an empty data line
                    data.append(value)
                    size += len(value)
                    has_data = True
                elif name == "id" and "\0" not in value:
                    self._id = value
                # "retry" and unknown fields are ignored, as the spec says.
        self._data, self._data_size, self._has_data, self._event = data, size, has_data, kind
        return events

    def _dispatch(self) -> SSEEvent:
        data = self._data[0] if len(self._data) == 1 else "\n".join(self._data)
        event = SSEEvent(data=data, event=self._event, id=self._id)
        self._data = []
        self._data_size = 0
        self._has_data = False
        self._event = "message"
        return event


class NDJSONDecoder:
    """Decode a newline-delimited JSON body (``application/x-ndjson``) fed in arbitrary chunks:
    one event per non-empty line, its ``data`` the line's text, ``event`` ``"ndjson"``.

    The same interface and bounds as :class:`SSEDecoder` (strict UTF-8, a line longer than
    ``max_event_size`` raises :class:`EventTooLargeError`), so the transport frames either."""

    __slots__ = ("_decoder", "_max_event_size", "_partial")

    def __init__(self, max_event_size: int = MAX_EVENT_SIZE) -> None:
        self._max_event_size = max_event_size
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
        self._partial = ""

    @property
    def holding(self) -> int:
        """Characters of the line in progress."""
        return len(self._partial)

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        *lines, self._partial = (self._partial + self._decoder.decode(chunk)).split("\n")
        if len(self._partial) > self._max_event_size:
            raise EventTooLargeError(len(self._partial), self._max_event_size)
        return [SSEEvent(data=line.strip(), event="ndjson") for line in lines if line.strip()]

    def flush(self) -> list[SSEEvent]:
        """End of input: a last line without its newline is still an event (marked truncated)."""
        rest = (self._partial + self._decoder.decode(b"", final=True)).strip()
        self._partial = ""
        return [SSEEvent(data=rest, event="ndjson", truncated=True)] if rest else []

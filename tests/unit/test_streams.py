"""The SSE and NDJSON decoders, fed at every possible byte boundary."""

from __future__ import annotations

import pytest

from orbit_local.wire.streams import SSEDecoder, SSEEvent


def decode_split(raw: bytes, size: int) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events: list[SSEEvent] = []
    for start in range(0, len(raw), size):
        events.extend(decoder.feed(raw[start : start + size]))
    events.extend(decoder.flush())
    return events


def decode_every_split(raw: bytes) -> list[list[SSEEvent]]:
    """Decode once per chunk size from 1 byte to the whole body, plus every two-piece split."""
    results = [decode_split(raw, size) for size in range(1, len(raw) + 1)]
    for cut in range(len(raw) + 1):
        decoder = SSEDecoder()
        events = decoder.feed(raw[:cut]) + decoder.feed(raw[cut:]) + decoder.flush()
        results.append(events)
    return results


def datas(events: list[SSEEvent]) -> list[str]:
    return [e.data for e in events]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'data: {"a":1}\n\ndata: [DONE]\n\n', ['{"a":1}', "[DONE]"]),
        (b'data: {"a":1}\r\n\r\ndata: [DONE]\r\n\r\n', ['{"a":1}', "[DONE]"]),
        (b'data: {"a":1}\r\rdata: [DONE]\r\r', ['{"a":1}', "[DONE]"]),
        (b": keep-alive\n\ndata: x\n\n: another comment\ndata: y\n\n", ["x", "y"]),
        (b"data: line one\ndata: line two\n\n", ["line one\nline two"]),
        (b"data:no-space\n\n", ["no-space"]),
        (b"data\n\n", [""]),
        (b'data: {"a":1}\n\n', ['{"a":1}']),  # missing [DONE]
        (b'data: {"a":1}\n\ndata: [DONE]', ['{"a":1}', "[DONE]"]),  # [DONE] without blank line
        (b'data: {"a":1}\n\ndata: [DONE]\n', ['{"a":1}', "[DONE]"]),
        ("data: héllo wörld ✓\n\n".encode(), ["héllo wörld ✓"]),  # multi-byte chars split anywhere
        (b"retry: 100\nid: 7\ndata: x\n\n", ["x"]),
    ],
)
def test_sse_decoder_is_independent_of_chunk_boundaries(raw: bytes, expected: list[str]) -> None:
    for events in decode_every_split(raw):
        assert datas(events) == expected


def test_sse_named_events_and_ids() -> None:
    raw = b'event: message\ndata: {"token": "Hi", "finish_reason": "null"}\n\nevent: error\nid: 3\ndata: boom\n\n'
    for events in decode_every_split(raw):
        assert [(e.event, e.data, e.id) for e in events] == [
            ("message", '{"token": "Hi", "finish_reason": "null"}', None),
            ("error", "boom", "3"),
        ]


def test_sse_event_name_resets_after_dispatch() -> None:
    events = decode_split(b"event: custom\ndata: a\n\ndata: b\n\n", 3)
    assert [e.event for e in events] == ["custom", "message"]


def test_sse_blank_lines_without_data_dispatch_nothing() -> None:
    assert decode_split(b"\n\n\n: only comments\n\n", 1) == []


# --- the WHATWG event-stream rules in detail ------------------------------------------------------
# Field parsing details, the last event id, end-of-body handling, and the ``holding`` measure the
# transport uses to tell a slowly arriving event from keep-alives. ``every_split`` feeds each chunk
# size from 1 byte to the whole body (``decode_every_split`` above also tries every two-piece split).


def every_split(raw: bytes) -> list[list[SSEEvent]]:
    results = []
    for size in range(1, len(raw) + 1):
        decoder = SSEDecoder()
        events: list[SSEEvent] = []
        for start in range(0, len(raw), size):
            events.extend(decoder.feed(raw[start : start + size]))
        events.extend(decoder.flush())
        results.append(events)
    return results


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # only ONE leading space is removed from a value (html.spec.whatwg.org, "process the field")
        (b"data:  two spaces\n\n", [("message", " two spaces", None)]),
        (b"event:custom\ndata:x\n\n", [("custom", "x", None)]),
        (b"event: \ndata: x\n\n", [("message", "x", None)]),  # an empty event name is "message"
        (b"data: a\ndata:\ndata: b\n\n", [("message", "a\n\nb", None)]),
        (b"data\ndata: b\n\n", [("message", "\nb", None)]),  # a field name alone: an empty value
        (b"id: 5\ndata: a\n\ndata: b\n\n", [("message", "a", "5"), ("message", "b", "5")]),  # the id persists
        (b"id: 1\nid: bad\x00id\ndata: a\n\n", [("message", "a", "1")]),  # an id with NUL is ignored
        (b"id:7\ndata: a\n\n", [("message", "a", "7")]),
        (b"foo: bar\nretry: 3000\n: comment\ndata: a\n\n", [("message", "a", None)]),
        (b"event: token\n\ndata: a\n\n", [("message", "a", None)]),  # a name without data is dropped
        (b"data: x:y: z\n\n", [("message", "x:y: z", None)]),
        (b"event: a:b\ndata: 1\n\n", [("a:b", "1", None)]),
    ],
)
def test_fields_follow_the_event_stream_rules(raw: bytes, expected: list[tuple[str, str, str | None]]) -> None:
    for events in every_split(raw):
        assert [(e.event, e.data, e.id) for e in events] == expected


@pytest.mark.parametrize(
    ("raw", "data", "truncated"),
    [
        (b"data: whole\n\n", ["whole"], [False]),
        (b"data: no blank line\n", ["no blank line"], [False]),  # ended cleanly, only the blank line missing
        (b"data: cut mid-li", ["cut mid-li"], [True]),  # the connection may have dropped here
        (b"data: a\n\ndata: cut", ["a", "cut"], [False, True]),
        (b"data: a\r", ["a"], [False]),  # a lone CR ends a line too
        (b": ping", [], []),
        (b"", [], []),
    ],
)
def test_the_end_of_the_body_dispatches_what_is_pending_and_flags_a_cut_line(
    raw: bytes, data: list[str], truncated: list[bool]
) -> None:
    for events in every_split(raw):
        assert [e.data for e in events] == data
        assert [e.truncated for e in events] == truncated


def test_flush_leaves_the_decoder_empty() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a") == []
    assert [e.data for e in decoder.flush()] == ["a"]
    assert decoder.flush() == [] and decoder.holding == 0


def test_a_crlf_split_across_chunks_is_one_line_end() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\r") == []
    assert [e.data for e in decoder.feed(b"\ndata: b\r\n\r\n")] == ["a", "b"]


def test_a_long_line_in_many_pieces_is_one_value() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: ") == []
    for _ in range(100):
        assert decoder.feed(b"xy") == []
    (event,) = decoder.feed(b"\n\n")
    assert event.data == "xy" * 100


def test_holding_grows_with_an_event_and_not_with_keepalives() -> None:
    """The transport ends a stream that sends only keep-alives for ``timeout`` seconds, but not
    one whose single large event is still arriving: ``holding`` is how it tells them apart."""
    decoder = SSEDecoder()
    assert decoder.holding == 0
    decoder.feed(b": keep-al")
    assert decoder.holding == 0  # a comment in progress is no progress
    decoder.feed(b"ive\n\n")
    assert decoder.holding == 0
    decoder.feed(b"data: abc")
    assert decoder.holding == len("data: abc")
    decoder.feed(b"def")
    assert decoder.holding == len("data: abcdef")
    decoder.feed(b"\n")  # a finished data line, not yet dispatched, is still held
    assert decoder.holding == len("abcdef")
    decoder.feed(b"data: gh\n")
    assert decoder.holding == len("abcdef") + len("gh")
    assert [e.data for e in decoder.feed(b"\n")] == ["abcdef\ngh"]
    assert decoder.holding == 0


def test_a_multibyte_character_split_across_chunks_is_decoded_once() -> None:
    decoder = SSEDecoder()
    raw = "data: ✓\n\n".encode()
    events = [event for byte in raw for event in decoder.feed(bytes([byte]))]
    assert [e.data for e in events] == ["✓"]


def test_cr_only_line_ends_dispatch_each_event_as_soon_as_it_is_complete() -> None:
    """A stream is read as it arrives: an event whose blank line has come is not held back until
    more bytes (or the end of the body) arrive, whatever the line ends."""
    decoder = SSEDecoder()
    assert [e.data for e in decoder.feed(b"data: a\r\rdata: b")] == ["a"]
    assert [e.data for e in decoder.feed(b"\r\r")] == []  # the last CR may still be half a CRLF
    assert [e.data for e in decoder.feed(b"data: c")] == ["b"]  # ...it was not: b is complete
    assert [e.data for e in decoder.flush()] == ["c"]


def test_an_event_the_body_ends_inside_keeps_its_lines_name_and_id_and_the_next_is_a_message() -> None:
    """The end of the body dispatches the pending event as a blank line would have (the SSE
    spec's fields: data lines joined by newlines, its event name, the last id); the name does
    not carry over to the next event."""
    decoder = SSEDecoder()
    assert decoder.feed(b"event: update\nid: 7\ndata: first\ndata: second") == []
    (last,) = decoder.flush()
    assert (last.data, last.event, last.id) == ("first\nsecond", "update", "7")
    decoder.feed(b"data: next")
    (following,) = decoder.flush()
    assert (following.data, following.event, following.id) == ("next", "message", "7")

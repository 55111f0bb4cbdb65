"""The SSE and NDJSON decoders, fed at every possible byte boundary."""

from __future__ import annotations

import pytest

from orbit_local.streams import SSEDecoder, SSEEvent


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



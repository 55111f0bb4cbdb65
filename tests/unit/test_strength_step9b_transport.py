"""Stream bounds at their edges (orbit_local/transport.py), on test_stream_bounds.py's fake
clock: an event may arrive for exactly ``timeout`` seconds ("SSE events must end within
``timeout`` of their first byte"), and the two refusals say what the server did.
"""

from __future__ import annotations

from itertools import pairwise

import pytest

from orbit_local.errors import ProtocolError, StreamTimeoutError
from tests.fakes import chunk, sse
from tests.unit.test_stream_bounds import TWINS, _Body, _pieces, _text


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The transport's clock, moved on by the body's pieces (as in test_stream_bounds.py)."""
    state = [1000.0]
    monkeypatch.setattr("orbit_local.transport.time.monotonic", lambda: state[0])
    return state


@TWINS
def test_an_event_that_arrives_for_exactly_the_timeout_is_still_read(kind: str, clock: list[float]) -> None:
    first = sse(chunk("edge"), done=False)  # b'data: {...}\n\n'
    middle = first[10:-2]
    cuts = [len(middle) * i // 30 for i in range(31)]
    # the event's first bytes, then 30 pieces a second apart: 30 s of it, not yet ended
    pieces = [first[:10], *(middle[a:b] for a, b in pairwise(cuts))]
    assert len(pieces) == 31 and all(pieces)
    body = _Body([*pieces, first[-2:] + sse(chunk(finish="stop"))], clock, 1.0)
    assert _text(kind, body, timeout=30.0) == "edge"
    # one second more is too long
    late = _Body([*pieces, b" ", first[-2:] + sse(chunk(finish="stop"))], clock, 1.0)
    with pytest.raises(StreamTimeoutError) as caught:
        _text(kind, late, timeout=30.0)
    assert "never finishes the event" in (caught.value.hint or "")


@TWINS
def test_an_oversized_event_is_said_to_be_no_chat_stream(
    kind: str, clock: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("orbit_local.transport.MAX_EVENT_SIZE", 1000)
    body = _Body(_pieces(sse(chunk("Hel"), done=False) + b"data: " + b"z" * 5000), clock, 0.0)
    with pytest.raises(ProtocolError) as caught:
        _text(kind, body)
    hint = caught.value.hint or ""
    assert "the server (or a proxy in between) sends something that is not a chat stream" in hint

"""How replayed requests are matched to recorded ones.

Method, scheme, host, port and path (so a request that loses its port, or goes to the server
root instead of the API prefix, fails replay), the query, the headers that matter (whether an
``Authorization`` header is sent, and the content type), and the JSON body with generated
identifiers normalised (langchain-tests puts a fresh uuid4 into tool-call ids; stable ids made
by orbit_local are hashes and match as they are). Keys are scrubbed to a placeholder, so a
cassette still says that one was sent.
"""

from __future__ import annotations

import json
import re
from typing import Any

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
_ID_KEYS = frozenset({"id", "tool_call_id", "genkey"})  # genkey: KoboldCpp generation key

SCRUBBED_HEADERS = [
    ("authorization", "<scrubbed>"),
    ("api-key", "<scrubbed>"),
    ("x-api-key", "<scrubbed>"),
    ("openai-organization", "<scrubbed>"),
    ("cookie", "<scrubbed>"),
]


def normalise(value: Any, key: str | None = None) -> Any:
    if isinstance(value, dict):
        return {k: normalise(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, str):
        if key in _ID_KEYS:
            return "<id>"
        return _UUID.sub("<uuid>", value)
    return value


def _body(request: Any) -> Any:
    raw = request.body
    if raw is None or raw == b"" or raw == "":
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    try:
        return normalise(json.loads(raw))
    except ValueError:
        return raw


def json_body_matcher(recorded: Any, live: Any) -> None:
    """vcrpy matcher: raise AssertionError with a readable diff when bodies differ."""
    left, right = _body(recorded), _body(live)
    if left != right:
        raise AssertionError(
            "request bodies differ:\n  recorded: "
            + json.dumps(left, sort_keys=True)[:600]
            + "\n  replayed: "
            + json.dumps(right, sort_keys=True)[:600]
        )


def _header(request: Any, name: str) -> str | None:
    for key, value in (request.headers or {}).items():
        if key.lower() == name:
            return str(value[0] if isinstance(value, list) else value)
    return None


def headers_matcher(recorded: Any, live: Any) -> None:
    """vcrpy matcher: the same answer to "was a key sent?" and the same content type."""
    if (_header(recorded, "authorization") is None) != (_header(live, "authorization") is None):
        raise AssertionError("one request sends an Authorization header and the other does not")
    left = (_header(recorded, "content-type") or "").split(";")[0]
    right = (_header(live, "content-type") or "").split(";")[0]
    if left != right:
        raise AssertionError(f"content types differ: recorded {left!r}, replayed {right!r}")


def vcr_config() -> dict[str, Any]:
    """Configuration for every cassette; record_mode is left to --record-mode (default: none)."""
    return {
        "match_on": ["method", "scheme", "host", "port", "path", "query", "orbit_headers", "orbit_json_body"],
        "filter_headers": SCRUBBED_HEADERS,
        "decode_compressed_response": True,
        "allow_playback_repeats": False,
    }

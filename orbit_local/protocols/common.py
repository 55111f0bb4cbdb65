"""Wire helpers shared by both protocols, the accumulator, tool-call recovery and the adapters.

They belong to no one protocol: a tool call's arguments arrive as a string or an object on
every server, an id must be made up the same way wherever a server omits it, tools arrive in
OpenAI's format from both frameworks, and a body that ends inside an event means the same on
both APIs.
"""

from __future__ import annotations

import hashlib
import json
import json.scanner
from collections.abc import Callable
from typing import Any, cast

from orbit_local.facts.errors import StreamInterruptedError
from orbit_local.facts.providers import ProviderProfile
from orbit_local.facts.types import ToolSpec

_scan_json: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(cast("Any", json.JSONDecoder()))


def loads_frame(data: str) -> Any:
    """``json.loads(data)`` for one stream frame, the same result and the same errors.

    A frame that starts with its value and ends with it (every server's frames) is read by the
    decoder's C scanner directly, without ``json.loads``'s three Python frames and two regex
    matches: this runs once per token. Anything else (leading or trailing whitespace, a
    malformed frame) goes through ``json.loads`` itself."""
    try:
        value, end = _scan_json(data, 0)
    except StopIteration:
        return json.loads(data)
    if end != len(data):
        return json.loads(data)
    return value


def tool_spec_from_openai(tool: dict[str, Any]) -> ToolSpec:
    """A neutral :class:`ToolSpec` from an OpenAI-format tool (``{"type": "function", ...}``)."""
    function = tool.get("function", tool)
    return ToolSpec(
        name=function["name"],
        description=function.get("description", ""),
        parameters=function.get("parameters") or {"type": "object", "properties": {}},
        strict=function.get("strict"),
    )


def stable_tool_call_id(name: str, arguments: str, index: int) -> str:
    """A deterministic id for a tool call the server sent without one.

    Deterministic (not random) so that replayed conversations send identical bodies.
    """
    digest = hashlib.sha1(f"{index}:{name}:{arguments}".encode()).hexdigest()[:16]
    return f"call_{digest}"


def parse_arguments(raw: Any) -> tuple[dict[str, Any], str, str | None]:
    """``(arguments, raw_text, error)`` from a string or an object (KoboldCpp, Ollama)."""
    if isinstance(raw, dict):
        return raw, json.dumps(raw), None
    text = "" if raw is None else str(raw)
    if not text.strip():
        return {}, text, None
    try:
        value = json.loads(text)
    except ValueError as exc:
        return {}, text, f"arguments are not valid JSON: {exc}"
    if isinstance(value, dict):
        return value, text, None
    return {}, text, f"arguments are JSON but not an object: {text[:80]}"


def cut_mid_event(profile: ProviderProfile, base_url: str) -> StreamInterruptedError:
    """The body ended inside an event: the connection dropped mid-answer."""
    return StreamInterruptedError(
        "the stream ended in the middle of an event (the connection dropped mid-answer)",
        provider=profile.display_name,
        base_url=base_url,
        hint="the server may have crashed or closed the connection; retry the request",
    )

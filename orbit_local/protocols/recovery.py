"""Recover a tool call that a model wrote into its answer text instead of ``tool_calls``.

Small local models, and servers without a tool parser for the model's format, often answer a
tool request with the call as text: a bare JSON object (``{"name": ..., "arguments": {...}}``),
Hermes/Qwen-style ``<tool_call>{...}</tool_call>``, or a fenced JSON block. Opt-in
(``recover_tool_calls=True``): only a call naming one of the bound tools is recovered, and
only when the answer has no real tool calls.
"""

from __future__ import annotations

import json
import re
from typing import Any

from orbit_local.facts.types import ChatResult, ToolCall
from orbit_local.protocols.common import stable_tool_call_id

_TAGGED = re.compile(r"<tool_call>\s*(\{.*?\})\s*</tool_call>", re.DOTALL)
_FENCED = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.DOTALL)


def _candidates(text: str) -> list[str]:
    found = _TAGGED.findall(text) or _FENCED.findall(text)
    if found:
        return list(found)
    stripped = text.strip()
    return [stripped] if stripped.startswith("{") and stripped.endswith("}") else []


def _as_call(obj: Any, tool_names: set[str], index: int) -> ToolCall | None:
    if not isinstance(obj, dict):
        return None
    function = obj["function"] if isinstance(obj.get("function"), dict) else {}
    name = obj.get("name") or function.get("name")
    arguments = function.get("arguments", obj.get("arguments", obj.get("parameters", obj.get("args"))))
    if name not in tool_names:
        return None
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return None
    if not isinstance(arguments, dict):
        return None
    raw = json.dumps(arguments)
    return ToolCall(
        id=stable_tool_call_id(str(name), raw, index), name=str(name), arguments=arguments, raw_arguments=raw
    )


def recover_tool_calls(result: ChatResult, tool_names: list[str]) -> ChatResult:
    """``result`` with tool calls found in its text moved into ``tool_calls`` (text cleared)."""
    if result.tool_calls or not tool_names or not result.text:
        return result
    calls = []
    for index, candidate in enumerate(_candidates(result.text)):
        try:
            parsed = json.loads(candidate)
        except ValueError:
            continue
        call = _as_call(parsed, set(tool_names), index)
        if call is not None:
            calls.append(call)
    if calls:
        result.tool_calls = calls
        result.text = ""
        result.finish_reason = "tool_calls"
    return result

"""``orbit-local doctor``'s failed lines, whole: for each way a check fails, the detail and the
fix it prints (docs/cli.md: ``✗ <check>: <detail> — fix: <fix>``).

test_strength_doctor.py pins the doctor's own fixes exactly where a run ends ("start the
server", "load a model", "check the server log" for the context window); these pin the rest,
for a server that answers but proves nothing, and for one whose requests fail without a hint.
"""

from __future__ import annotations

from typing import Any

import httpx

from orbit_local.doctor import run_checks
from orbit_local.errors import OrbitLocalError
from tests.fakes import FakeServer, chunk, completion, sse
from tests.unit.test_strength_doctor import PROSE, Scripted, capable, doctor


def test_a_server_that_answers_but_proves_nothing_gets_each_checks_own_fix() -> None:
    def lazy(body: dict[str, Any]) -> httpx.Response:  # empty text, no tool call, prose for JSON
        if "input" in body:
            return capable(body)
        if body.get("stream"):
            frames = sse(chunk(role="assistant", content=""), chunk(finish="stop"))
            return httpx.Response(200, content=frames, headers={"content-type": "text/event-stream"})
        plain = "tools" not in body and "response_format" not in body
        return httpx.Response(200, json=completion("  " if plain else PROSE))

    checks, _ = doctor("vllm", FakeServer(chat=lazy))
    failed = {name: (c.detail, c.fix) for name, c in checks.items() if c.status == "fail"}
    assert failed == {
        "chat": ("the answer was empty", "check the model's chat template on the server"),
        "streaming": ("no text arrived", "check the server log"),
        "usage in streams": ("no usage arrived", "a newer server version reports stream usage"),
        "tools": ("accepted, but the model called no tool", "use a model trained for tool calling"),
        "json_schema": (f"not JSON: {PROSE[:40]!r}", "the server ignored the schema"),
    }


def test_requests_that_fail_without_a_hint_get_the_doctors_fix_per_check() -> None:
    def broken() -> OrbitLocalError:
        return OrbitLocalError("the connection was reset")  # no hint of its own

    checks = {c.name: c for c in run_checks(Scripted(chat=broken(), stream=broken()))}
    fixes = {name: c.fix for name, c in checks.items() if c.status == "fail"}
    assert fixes == {
        "chat": "check the server log",
        "streaming": "check the server log",
        "tools": "check that the server was started with tool calling on",
        "json_schema": "the server may need a grammar-capable backend",
    }

"""``make demo`` on a busy machine: what it waits for, and advice a ``make demo`` user can follow.

Before Step 9 the RAG step's embeddings timed out after a fixed 120 s on a loaded machine and
the advice was "raise timeout=...", which nobody running ``make demo`` can do. The waiting
itself (as long as the embeddings server uses CPU) is tested in test_embedded.py.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from rich.console import Console

from examples import demo
from orbit_local.facts.errors import OrbitLocalError, RequestTimeoutError


def run_main(monkeypatch: pytest.MonkeyPatch, error: OrbitLocalError) -> str:
    out = io.StringIO()
    monkeypatch.setattr(demo, "console", Console(file=out, width=400, highlight=False))

    def fail() -> Any:
        raise error

    monkeypatch.setattr(demo, "pick_backend", fail)
    assert demo.main() == 1
    return out.getvalue()


def test_a_timeout_ends_with_a_command_to_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORBIT_DEMO_TIMEOUT", raising=False)
    error = RequestTimeoutError("no answer within the timeout", hint="raise timeout=...")
    printed = run_main(monkeypatch, error)
    assert "raise timeout=..." in printed and printed.rstrip().endswith("ORBIT_DEMO_TIMEOUT=600 make demo")
    monkeypatch.setenv("ORBIT_DEMO_TIMEOUT", "600")
    assert run_main(monkeypatch, error).rstrip().endswith("ORBIT_DEMO_TIMEOUT=2400 make demo")  # longer than now


def test_advice_already_given_is_not_repeated_and_other_errors_get_none(monkeypatch: pytest.MonkeyPatch) -> None:
    stalled = RequestTimeoutError("the embeddings server used no CPU", hint=demo.longer_timeout_advice())
    assert run_main(monkeypatch, stalled).count("ORBIT_DEMO_TIMEOUT") == 1
    assert "ORBIT_DEMO_TIMEOUT" not in run_main(monkeypatch, OrbitLocalError("no model"))


def test_the_variable_sets_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORBIT_DEMO_TIMEOUT", raising=False)
    assert demo.demo_timeout() == 120.0
    monkeypatch.setenv("ORBIT_DEMO_TIMEOUT", " 900 ")
    assert demo.demo_timeout() == 900.0
    for bad in ("ten", "0", "-5"):
        monkeypatch.setenv("ORBIT_DEMO_TIMEOUT", bad)
        with pytest.raises(SystemExit, match="write a number of seconds"):
            demo.demo_timeout()


def test_the_rag_step_uses_the_patient_client_and_its_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's embeddings go through the server's patient client with no fixed timeout and
    with the demo's wait and advice (checked on the objects it builds, not by running it)."""
    import httpx

    import llamaindex_orbit_local
    import orbit_local.backends.embedded as embedded

    monkeypatch.setenv("ORBIT_DEMO_TIMEOUT", "300")
    seen: dict[str, Any] = {}
    patient = httpx.Client()

    class Stop(Exception):
        pass

    class FakeServer:
        base_url = "http://127.0.0.1:1/v1"
        model = "e5"

        def patient_client(self) -> httpx.Client:
            return patient

    @contextmanager
    def fake_server(**kwargs: Any) -> Iterator[FakeServer]:
        seen["server"] = kwargs
        yield FakeServer()

    def fake_embedding(**kwargs: Any) -> Any:
        seen["embedding"] = kwargs
        raise Stop

    monkeypatch.setattr(embedded, "embeddings_server", fake_server)
    monkeypatch.setattr(llamaindex_orbit_local, "OrbitLocalEmbedding", fake_embedding)
    monkeypatch.setattr(demo, "console", Console(file=io.StringIO()))
    with pytest.raises(Stop):
        demo.llamaindex_rag(demo.Backend("x"), usage=None)  # type: ignore[arg-type]
    assert seen["server"] == {"stall_timeout": 300.0, "stall_hint": demo.longer_timeout_advice()}
    assert "ORBIT_DEMO_TIMEOUT=1200 make demo" in seen["server"]["stall_hint"]
    built = seen["embedding"]
    assert built["http_client"] is patient and built["timeout"] is None and built["max_retries"] == 0
    assert patient.is_closed  # the demo closes what it opened

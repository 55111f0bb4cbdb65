"""The error hierarchy's own promises: how a message reads (docs/errors.md), advice added after the
fact, pickling with every field, and the category vocabulary the real-session corpus uses."""

from __future__ import annotations

import pickle

import pytest

from orbit_local import errors
from orbit_local.errors import (
    BadRequestError,
    ContextOverflowError,
    ModelNotFoundError,
    OrbitLocalError,
    ServerBusyError,
    ServerError,
    StreamInterruptedError,
    StreamTimeoutError,
)

URL = "http://localhost:1234/v1"


@pytest.mark.parametrize(
    ("fields", "rendered"),
    [
        # docs/errors.md: "LM Studio at http://localhost:1234/v1: <what happened> — <what to do>"
        ({"provider": "LM Studio", "base_url": URL, "hint": "load a model"},
         f"LM Studio at {URL}: model missing — load a model"),
        ({"provider": "LM Studio"}, "LM Studio: model missing"),
        ({"base_url": URL}, "model missing"),
        ({}, "model missing"),
        ({"provider": "LM Studio", "base_url": URL, "status_code": 404},
         f"LM Studio at {URL}: model missing (HTTP 404)"),
        ({"hint": ""}, "model missing"),
    ],
    ids=["server-url-hint", "server-only", "url-only", "bare", "status", "empty-hint"],
)  # fmt: skip
def test_a_message_names_server_url_status_and_fix(fields: dict[str, object], rendered: str) -> None:
    error = ModelNotFoundError("model missing", **fields)  # type: ignore[arg-type]
    assert str(error) == rendered
    assert error.message == "model missing"


def test_advice_found_later_is_appended_and_shown() -> None:
    error = ServerError("boom", provider="vLLM", base_url="http://h:8000/v1", hint="check its log")
    error.add_hint("provider='llamacpp' handles its quirks")
    assert error.hint == "check its log; provider='llamacpp' handles its quirks"
    assert str(error).endswith("— check its log; provider='llamacpp' handles its quirks")
    bare = ServerError("boom")
    bare.add_hint("retry")
    assert bare.hint == "retry" and str(bare) == "boom — retry"


@pytest.mark.parametrize("cls", [ServerBusyError, StreamInterruptedError, StreamTimeoutError, ContextOverflowError])
def test_every_field_survives_pickling(cls: type[OrbitLocalError]) -> None:
    """Errors cross process boundaries (multiprocessing, pytest-xdist) with every field."""
    fields = {
        "provider": "KoboldCpp",
        "base_url": "http://h:5001/v1",
        "status_code": 503,
        "server_message": "Server is busy; please try again later.",
        "hint": "retry later",
        "body": '{"detail": {"msg": "Server is busy"}}',
        "method": "POST",
        "url": "http://h:5001/api/v1/generate",
    }
    error = cls("busy", **fields)  # type: ignore[arg-type]
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is cls
    assert {name: getattr(clone, name) for name in fields} == fields
    assert clone.message == "busy" and str(clone) == str(error)


def test_a_cut_stream_keeps_its_partial_text() -> None:
    error = StreamInterruptedError("cut", partial_text="Hel", provider="vLLM")
    assert error.partial_text == "Hel" and str(error) == "vLLM: cut"
    assert StreamInterruptedError("cut").partial_text == ""


@pytest.mark.parametrize(
    ("cls", "category"),
    [
        (BadRequestError, "bad_request"),
        (ContextOverflowError, "context_overflow"),
        (ModelNotFoundError, "model_not_found"),
        (ServerBusyError, "server_busy"),
        (ServerError, "server_error"),
    ],
)
def test_categories_are_the_real_session_corpus_vocabulary(cls: type[OrbitLocalError], category: str) -> None:
    """The conformance corpus (tests/conformance, ORBIT_REAL_SESSIONS) names expected errors by
    these categories; a renamed category would fail every recorded error case."""
    assert cls.category == category


def test_categories_tell_every_class_apart() -> None:
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, OrbitLocalError)]
    categories = [c.category for c in classes]
    assert len(set(categories)) == len(classes) > 10

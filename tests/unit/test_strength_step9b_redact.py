"""Registered secrets are masked whole even when one holds another (orbit_local/redact.py:
"longest first: no half-masked key").

Two keys in one process (two models, an old key and its replacement) can overlap:
``old-team-key-1234`` holds ``team-key-1234``. Masking the shorter first would leave
``old-***`` — part of the longer key, and a hint at which key it was.
"""

from __future__ import annotations

from orbit_local.errors import ServerError
from orbit_local.redact import redact, register_secret


def test_a_key_that_holds_another_registered_key_is_masked_whole() -> None:
    register_secret("team-key-1234")
    register_secret("old-team-key-1234")
    assert redact("the server said: unknown key old-team-key-1234") == "the server said: unknown key ***"
    assert redact("keys team-key-1234 and old-team-key-1234") == "keys *** and ***"


def test_an_error_echoing_the_longer_key_shows_none_of_it() -> None:
    register_secret("team-key-1234")
    register_secret("old-team-key-1234")
    error = ServerError("invalid api key 'old-team-key-1234'", server_message="old-team-key-1234 is revoked")
    assert "team-key" not in str(error) and "old-" not in str(error)
    assert error.server_message == "*** is revoked"


def test_keys_as_short_as_the_minimum_are_masked_and_shorter_ones_are_not() -> None:
    """``_MIN_SECRET``: "Shorter values are not registered" — masking "x" everywhere would
    garble every message; a key of the minimum length is still a key."""
    from orbit_local.redact import _MIN_SECRET

    key = "k" * _MIN_SECRET
    register_secret(key)
    assert redact(f"bad key {key}") == "bad key ***"
    shorter = "q" * (_MIN_SECRET - 1)
    register_secret(shorter)
    assert redact(f"bad key {shorter}") == f"bad key {shorter}"


def test_a_models_repr_masks_the_base_url_only_not_a_field_that_equals_the_key() -> None:
    """Ollama's docs give the OpenAI SDK the dummy key ``"ollama"`` (providers/ollama.md), so
    ``provider="ollama", api_key="ollama"`` is common; once that key is sent (and registered),
    the repr must still name the provider. Only ``base_url`` goes through URL masking."""
    from orbit_local.settings import ConnectionSettings

    register_secret("ollama")
    settings = ConnectionSettings(
        provider="ollama", api_key="ollama", model="llama3.2:1b", base_url="http://user:pw@localhost:11434/v1"
    )
    shown = repr(settings)
    assert "provider='ollama'" in shown and "model='llama3.2:1b'" in shown
    assert "base_url='http://***@localhost:11434/v1'" in shown


def test_credential_headers_given_to_a_client_are_masked_and_other_headers_are_not() -> None:
    """``X-Api-Key`` (and Authorization, Cookie, ...) values are credentials: a server that
    echoes one back must not put it in an error or a log line. A trace id is not a secret."""
    from orbit_local.providers import get_provider
    from orbit_local.transport import Transport

    Transport(
        get_provider("openai-compatible"),
        "http://127.0.0.1:9000/v1",
        headers={"X-Api-Key": "hdr-secret-123", "X-Trace-Id": "trace-visible-1"},
    )
    assert redact("rejected key hdr-secret-123") == "rejected key ***"
    assert redact("trace trace-visible-1") == "trace trace-visible-1"

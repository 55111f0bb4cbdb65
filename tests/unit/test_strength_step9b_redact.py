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

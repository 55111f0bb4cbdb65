"""What the client says when there is no server or no model (orbit_local/client.py): the
message names where it looked, and the hint the ways out, in words a user can act on — the
command to run as it is spelt, the environment variable as it is spelt.
"""

from __future__ import annotations

import pytest

from orbit_local.client import ChatClient
from orbit_local.errors import ModelNotFoundError, ServerNotRunningError
from orbit_local.types import ChatRequest, Message
from tests.fakes import FakeServer

REQUEST = ChatRequest(model="m", messages=[Message(role="user", content="hi")])


def test_no_server_on_any_default_port_says_where_it_looked_and_what_to_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("orbit_local.client.first_server", lambda: None)
    with pytest.raises(ServerNotRunningError) as caught:
        ChatClient("auto").chat(REQUEST)
    error = caught.value
    assert error.message.startswith("no local server answered at any default port (")
    assert "http://localhost:1234/v1" in error.message  # LM Studio's default (providers/lmstudio.md)
    hint = error.hint or ""
    assert hint.startswith("start a server, or pass base_url=... (or set ORBIT_LOCAL_BASE_URL)")
    assert "`orbit-local discover` lists what runs" in hint  # the command, as typed


def test_a_server_that_lists_no_models_says_so() -> None:
    server = FakeServer(models=[])
    client = ChatClient("lmstudio", base_url="http://127.0.0.1:1234/v1", http_client=server.client())
    with pytest.raises(ModelNotFoundError) as caught:
        client.resolve_model()
    assert "the server lists no models, and none was given" in caught.value.message

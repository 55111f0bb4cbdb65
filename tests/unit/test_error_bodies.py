"""A 200 body that is JSON but no object is shown as it came: KoboldCpp answers a field of the
wrong type with HTTP 200 and ``null`` (cassettes/koboldcpp*/scenarios/*malformed_request*); a
proxy or another server may send a list, a number or a string. One guard
(``protocols.shapes.expect_object``) serves both protocols."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from langchain_core import exceptions as lc

import langchain_orbit_local as lco
from orbit_local import errors as ol
from orbit_local.protocols.kobold import KoboldProtocol
from orbit_local.protocols.openai import OpenAIProtocol
from orbit_local.providers import get_provider
from tests.fakes import FakeServer

BASE = "http://127.0.0.1:1234/v1"


@pytest.mark.parametrize(
    ("payload", "shown"),
    [(None, "null"), ([1, 2], "[1, 2]"), (42, "42"), ("busy", '"busy"'), ("x" * 5000, "(5002 characters)")],
    ids=["null", "list", "number", "string", "long"],
)
def test_a_body_that_is_not_an_object_is_shown_as_it_came(payload: Any, shown: str) -> None:
    for parse in (
        OpenAIProtocol(get_provider("koboldcpp-openai"), BASE).parse_chat,
        OpenAIProtocol(get_provider("llamacpp"), BASE).parse_embeddings,
        KoboldProtocol(get_provider("koboldcpp"), BASE).parse_chat,
    ):
        with pytest.raises(ol.ProtocolError) as info:
            parse(payload)
        assert shown in info.value.message
        assert len(info.value.message) < 400  # truncated, the rest is in body
        assert info.value.body is not None


def test_koboldcpps_200_null_reaches_the_user_with_the_body_shown() -> None:
    """KoboldCpp's answer to a field of the wrong type (cassettes/koboldcpp-openai/scenarios/
    test_langchain_malformed_request.yaml): HTTP 200, body ``null``."""
    server = FakeServer(
        chat=lambda _: httpx.Response(200, content=b"null", headers={"content-type": "application/json"})
    )
    chat = lco.ChatOrbitLocal(provider="koboldcpp-openai", base_url=BASE, model="m", http_client=server.client())
    with pytest.raises(lc.ModelAPIError) as info:
        chat.invoke("hi")
    assert isinstance(info.value, ol.ProtocolError)
    assert "the server sent null" in str(info.value)


@pytest.mark.parametrize(
    ("protocol", "parse"),
    [
        (OpenAIProtocol(get_provider("koboldcpp-openai"), BASE), "parse_chat"),
        (OpenAIProtocol(get_provider("llamacpp"), BASE), "parse_embeddings"),
        (KoboldProtocol(get_provider("koboldcpp"), BASE), "parse_chat"),
    ],
    ids=["openai-chat", "openai-embeddings", "kobold-generate"],
)
def test_the_error_names_the_server_and_keeps_the_whole_body_as_it_came(
    protocol: OpenAIProtocol | KoboldProtocol, parse: str
) -> None:
    """A non-ASCII string (a proxy's "überlastet") is quoted in its own letters, not as
    ``\\u00fc`` escapes; the error says which server at which URL sent it."""
    with pytest.raises(ol.ProtocolError) as info:
        getattr(protocol, parse)("überlastet")
    error = info.value
    assert (error.provider, error.base_url) == (protocol.profile.display_name, BASE)
    assert '"überlastet"' in error.message
    assert error.body == '"überlastet"'
    assert "version" in (error.hint or "")  # what the user can check


def test_koboldcpps_null_says_why_it_came() -> None:
    """KoboldCpp's 200 ``null`` means a field had the wrong type (koboldcpp.md); the message says so."""
    with pytest.raises(ol.ProtocolError) as info:
        KoboldProtocol(get_provider("koboldcpp"), BASE).parse_chat(None)
    assert "wrong type" in info.value.message

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
from orbit_local.facts import errors as ol
from orbit_local.facts.errors import ProtocolError
from orbit_local.facts.providers import get_provider
from orbit_local.protocols.kobold import KoboldProtocol, KoboldStreamParser
from orbit_local.protocols.openai import OpenAIProtocol, OpenAIStreamParser
from orbit_local.protocols.shapes import SHOWN_BODY, expect_object, shape_error
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


# --- shape errors name the server whoever asks ----------------------------------------------------
# A protocol, a stream parser (which holds its protocol), or a parser that knows no server at all:
# the promise of orbit_local/protocols/shapes.py is "a typed ProtocolError, never a TypeError". Its
# helpers look the server up defensively, so a caller without a profile still gets the typed error.


OPENAI_URL = "http://127.0.0.1:8080/v1"
KOBOLD_URL = "http://127.0.0.1:5001"


def _stream_parser(kind: str) -> tuple[object, str, str]:
    if kind == "openai":
        return OpenAIStreamParser(OpenAIProtocol(get_provider("llamacpp"), OPENAI_URL)), "llama.cpp server", OPENAI_URL
    return KoboldStreamParser(KoboldProtocol(get_provider("koboldai"), KOBOLD_URL), []), "KoboldAI", KOBOLD_URL


@pytest.mark.parametrize("kind", ["openai", "kobold"])
def test_a_stream_parser_asking_names_its_protocols_server_and_url(kind: str) -> None:
    parser, server, url = _stream_parser(kind)
    with pytest.raises(ProtocolError) as caught:
        expect_object(None, "a frame", parser)
    assert (caught.value.provider, caught.value.base_url) == (server, url)
    # what came ends the message: nothing is added after it when the caller has no note
    assert caught.value.message.endswith("a frame is not a JSON object: the server sent null")

    error = shape_error("a frame", parser, KeyError("choices"))
    assert isinstance(error, ProtocolError)
    assert (error.provider, error.base_url) == (server, url)
    assert "KeyError" in error.message and "choices" in error.message
    # both say what is wrong (the server's answer breaks its API) and where to look
    assert "the server's answer does not follow its API" in (error.hint or "")
    assert "the server's answer does not follow its API" in (caught.value.hint or "")


def test_a_parser_that_knows_no_server_still_gets_the_typed_error() -> None:
    """No profile, no base_url: the error says so by leaving them empty, not by an AttributeError."""
    with pytest.raises(ProtocolError) as caught:
        expect_object([1, 2], "the answer", object())
    assert (caught.value.provider, caught.value.base_url) == (None, None)
    assert caught.value.body == "[1, 2]"

    error = shape_error("the answer", object(), TypeError("list indices must be integers"))
    assert isinstance(error, ProtocolError)
    assert (error.provider, error.base_url) == (None, None)


def test_a_body_up_to_the_quoted_length_is_quoted_whole_and_a_longer_one_is_cut_saying_how_long() -> None:
    """``SHOWN_BODY`` characters are quoted in the message; ``body`` keeps up to 2000."""
    whole = "x" * (SHOWN_BODY - 2)  # JSON quotes make it SHOWN_BODY characters
    with pytest.raises(ProtocolError) as caught:
        expect_object(whole, "the answer", object())
    assert caught.value.message.endswith(f'the server sent "{whole}"')

    longer = "y" * 2500
    with pytest.raises(ProtocolError) as caught:
        expect_object(longer, "the answer", object())
    shown = f'"{longer}"'
    assert f"the server sent {shown[:SHOWN_BODY]}… ({len(shown)} characters)" in caught.value.message
    assert caught.value.body == shown[:2000]

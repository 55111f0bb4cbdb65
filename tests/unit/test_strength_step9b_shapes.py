"""Shape errors (orbit_local/protocols/shapes.py) name the server whoever asks: a protocol, a
stream parser (which holds its protocol), or a parser that knows no server at all.

The module's promise is "a typed ProtocolError, never a TypeError": its helpers look the
server up defensively, so a caller without a profile still gets the typed error. Until now
every caller in the suite was a protocol, so neither the stream parser's way nor the bare
way was exercised.
"""

from __future__ import annotations

import pytest

from orbit_local.errors import ProtocolError
from orbit_local.protocols.kobold import KoboldProtocol, KoboldStreamParser
from orbit_local.protocols.openai import OpenAIProtocol, OpenAIStreamParser
from orbit_local.protocols.shapes import SHOWN_BODY, expect_object, shape_error
from orbit_local.providers import get_provider

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

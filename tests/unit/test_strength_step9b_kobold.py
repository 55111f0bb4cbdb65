"""KoboldAI's generate API (orbit_local/protocols/kobold.py): the refusal of JSON mode names
the server's feature and fields as the server spells them, and an answer that is no object
says what was not.

Facts from ../shared/providers/koboldcpp.md: the generate input has ``grammar`` but no
``response_format``; KoboldCpp's OpenAI side takes ``response_format``; KoboldCpp answers
HTTP 200 ``null`` to a field of the wrong type.
"""

from __future__ import annotations

import pytest

from orbit_local.errors import ProtocolError, UnsupportedFeatureError
from orbit_local.protocols.kobold import KoboldProtocol
from orbit_local.providers import get_provider
from orbit_local.types import ChatRequest, Message

URL = "http://127.0.0.1:5001"


def test_json_mode_is_refused_in_the_servers_own_terms() -> None:
    request = ChatRequest(
        model="m", messages=[Message(role="user", content="Hi")], response_format={"type": "json_object"}
    )
    with pytest.raises(UnsupportedFeatureError) as caught:
        KoboldProtocol(get_provider("koboldai"), URL).generate_body(request)
    assert "no JSON mode" in caught.value.message
    hint = caught.value.hint or ""
    assert "KoboldCpp's `grammar` in extra_body" in hint  # the field KoboldCpp's generate input has
    assert "its OpenAI side: provider='koboldcpp-openai'" in hint


def test_an_answer_that_is_no_object_is_named_as_the_answer() -> None:
    with pytest.raises(ProtocolError) as caught:
        KoboldProtocol(get_provider("koboldcpp"), URL).parse_chat(None)
    assert caught.value.message.startswith("the answer is not a JSON object: the server sent null")

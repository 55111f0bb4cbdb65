"""Auto-detection against real servers, replayed (``make record PROVIDER=detect-<target>``).

Each detection target is a server we started ourselves, so the profile it needs is known from
what was started (``Target.provider``), not from the code under test. The tests check that
fingerprinting names it, that the generic classes then speak its dialect in both frameworks,
and that on llama-cpp-python the quirks the issue reported (HTTP 500 for ``json_schema`` and for
``tool_choice="required"``, ../shared/REAL_SERVERS.md) either vanish under auto-detection or,
with a mismatched profile, come back as an error that names the profile that fixes them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole

from langchain_orbit_local import ChatLlamaCpp, ChatOrbitLocal
from llamaindex_orbit_local import OrbitLocal
from orbit_local.facts.errors import OrbitLocalError
from orbit_local.net.discovery import identify
from tests.targets import Target, detection_targets

pytestmark = pytest.mark.vcr

TARGETS = [pytest.param(t, id=t.name) for t in detection_targets()]
if not TARGETS:
    TARGETS = [pytest.param(None, marks=pytest.mark.skip(reason="no detection cassettes recorded yet"), id="none")]

COLOR = {
    "title": "Color",
    "type": "object",
    "properties": {"color": {"type": "string", "enum": ["red", "blue"]}},
    "required": ["color"],
}



def settings(target: Target, **kwargs: Any) -> dict[str, Any]:
    return {"base_url": target.base_url, "model": target.chat_model, "temperature": 0, "seed": 7, **kwargs}


def test_identify_names_the_server(target: Target) -> None:
    found = identify(target.base_url)
    assert found is not None
    assert found.profile.name == target.provider
    assert found.base_url == target.base_url
    assert target.chat_model in found.models


def test_langchain_without_provider_speaks_the_detected_dialect(target: Target) -> None:
    chat = ChatOrbitLocal(**settings(target, max_tokens=16))
    message = chat.invoke("Say hello.")
    assert message.text
    assert message.response_metadata["model_provider"] == target.provider
    assert chat.provider_profile.name == target.provider


async def test_llamaindex_without_provider_detects_in_async(target: Target) -> None:
    llm = OrbitLocal(**settings(target, max_tokens=16))
    chunks = [r async for r in await llm.astream_chat([ChatMessage(role=MessageRole.USER, content="Say hello.")])]
    assert "".join(c.delta or "" for c in chunks)
    assert chunks[-1].additional_kwargs["provider"] == target.provider


def test_structured_output_default_fits_the_detected_server(target: Target) -> None:
    if not target.structured_output:
        pytest.skip(f"{target.name}: no constrained JSON on this server")
    result = ChatOrbitLocal(**settings(target, max_tokens=32)).with_structured_output(COLOR).invoke(
        "Pick a color: red or blue."
    )
    assert result["color"] in ("red", "blue")


def _only_llama_cpp_python(target: Target) -> None:
    if target.provider != "llama-cpp-python":
        pytest.skip("the reported quirks are llama-cpp-python's")


def test_wrong_profile_structured_output_error_names_llama_cpp_python(target: Target) -> None:
    _only_llama_cpp_python(target)
    chat = ChatLlamaCpp(**settings(target, max_tokens=32))
    with pytest.raises(OrbitLocalError) as info:
        chat.with_structured_output(COLOR).invoke("Pick a color: red or blue.")
    assert info.value.status_code == 500
    assert "provider='llama-cpp-python'" in str(info.value)


def test_generic_profile_required_tool_choice_error_names_llama_cpp_python(target: Target) -> None:
    _only_llama_cpp_python(target)

    def get_weather(city: str) -> str:
        """Weather in a city."""
        return "sunny"

    chat = ChatOrbitLocal(**settings(target, provider="openai-compatible", model=target.tools_model, max_tokens=32))
    with pytest.raises(OrbitLocalError) as info:
        chat.bind_tools([get_weather], tool_choice="required").invoke("Weather in Paris?")
    assert info.value.status_code == 500
    assert "provider='llama-cpp-python'" in str(info.value)


# What each started server can do, from ../shared (REAL_SERVERS.md, providers/koboldcpp.md) and
# the start commands in provenance.json: (usage in streams, JSON schema, context window line).
DOCTOR_FACTS: dict[str, tuple[str, str, str]] = {
    # llama-cpp-python ignores stream_options; json_object with a schema is grammar-constrained;
    # it has no endpoint that tells the context size.
    "llama-cpp-python": ("n/a", "ok", "n/a"),
    # KoboldCpp counts stream usage with /api/extra/tokencount; no JSON mode; --contextsize 2048.
    "koboldai": ("ok", "n/a", "2048 tokens"),
    # llama-server sends usage in streams, has json_schema, and /props tells n_ctx (-c 2048).
    "llamacpp": ("ok", "ok", "2048 tokens"),
    # FastChat: no usage in streams, tools and JSON mode silently ignored, no context endpoint.
    "fastchat": ("n/a", "n/a", "n/a"),
}


# The embedding model each started server lists (provenance.json's models_requested): the doctor
# asks only that one; with none listed (llama-server, FastChat here) embeddings are not tested.
EMBEDDING_MODELS: dict[str, str | None] = {"llama-cpp-python": "smollm2-embed", "llamacpp": None, "fastchat": None}


class EmbeddingsNotRecorded:
    """The client, except that ``embed`` is not sent: these doctor runs were recorded when the
    doctor still asked the chat model for embeddings (the recordings keep that request; the
    test retires it), and no request to an embedding model was recorded. The model it is asked
    for is still checked: the one the server lists as an embedding model, never the chat model."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def embed(self, texts: list[str], model: str) -> Any:
        raise OrbitLocalError(f"not recorded: embeddings from {model}")


def _embeddings_from(model: str | None) -> Any:
    """A rule matching a recorded embeddings request for ``model``."""

    def rule(recorded: Any) -> bool:
        body = json.loads(recorded.body or b"{}")
        return bool(recorded.uri.endswith("/embeddings") and body.get("model") == model)

    return rule


def test_doctor_on_the_real_server(target: Target, retired_requests: list[Any]) -> None:
    from orbit_local.backends.client import ChatClient
    from orbit_local.features.doctor import run_checks

    if target.provider not in DOCTOR_FACTS:
        pytest.skip(f"no recorded facts for {target.provider}")
    # Recorded before step 9: the doctor asked the chat model for embeddings. It must not any more
    # (the fixture fails the test if that recorded request is sent again).
    retired_requests.append(_embeddings_from(target.chat_model))
    client = ChatClient("auto", base_url=target.base_url)
    checks = {c.name: c for c in run_checks(EmbeddingsNotRecorded(client), model=target.chat_model)}  # type: ignore[arg-type]
    assert [checks[n].status for n in ("reachable", "model loaded", "chat", "streaming")] == ["ok"] * 4
    assert target.provider in checks["reachable"].detail or client.profile.display_name in checks["reachable"].detail
    usage, schema, window = DOCTOR_FACTS[target.provider]
    assert checks["usage in streams"].status == usage
    assert checks["json_schema"].status == schema
    assert (checks["context window"].detail if window != "n/a" else checks["context window"].status) == window
    if target.provider in EMBEDDING_MODELS:
        embedding_model = EMBEDDING_MODELS[target.provider]
        if embedding_model is None:
            assert checks["embeddings"].status == "untested"
        else:
            assert checks["embeddings"].detail == f"not recorded: embeddings from {embedding_model}"

"""Step 6 against real servers, replayed (``make record PROVIDER=features-<target>``).

Expected values are server facts, not the profiles under test: SmolLM2's tokenizer turns
"Hello world" into [19556, 905] without a BOS token (../shared/providers/lemonade.md records the
same ids from another server; KoboldCpp's count prepends BOS), every server here was started with a 2048-token context
(``-c 2048``, ``--contextsize 2048``; llama-cpp-python's ``n_ctx`` default is 2048), and a
choice's logprob tokens spell its text.
"""

from __future__ import annotations

import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole

from langchain_orbit_local import ChatOrbitLocal
from llamaindex_orbit_local import OrbitLocal
from tests.targets import Target, features_targets, replay_params

pytestmark = pytest.mark.vcr

TARGETS = replay_params(features_targets(), "feature")

HELLO_WORLD_IDS = [19556, 905]
# KoboldCpp's tokencount puts the BOS id 1 first (providers/koboldcpp.md: {"value": 12, "ids": [1, 19556, ...]}).
KOBOLD_IDS = [1, *HELLO_WORLD_IDS]


def expected_ids(target: Target) -> list[int]:
    return KOBOLD_IDS if target.launcher == "koboldcpp" else HELLO_WORLD_IDS
CONTEXT = 2048




def test_token_counts_come_from_the_servers_tokenizer(target: Target) -> None:
    chat = ChatOrbitLocal(**target.chat_settings())
    ids = expected_ids(target)
    assert chat.get_token_ids("Hello world") == ids
    assert chat.get_num_tokens("Hello world") == len(ids)  # cached: replay has one tokenize exchange per text
    llm = OrbitLocal(**target.chat_settings())
    assert llm.tokenizer("Hello world") == ids
    assert llm.count_tokens("Hello world, again") > 2


def test_context_window_is_the_servers_figure(target: Target) -> None:
    assert OrbitLocal(**target.chat_settings()).metadata.context_window == CONTEXT
    chat = ChatOrbitLocal(**target.chat_settings())
    window = chat.get_context_window()
    assert window in (CONTEXT, None)  # None only where the server does not tell it
    if window is None:
        assert target.provider == "llama-cpp-python"


def test_llamaindex_raw_is_the_servers_json(target: Target) -> None:
    response = OrbitLocal(**target.chat_settings(max_tokens=8)).chat([ChatMessage(role=MessageRole.USER, content="Hi")])
    raw = response.raw
    assert isinstance(raw, dict)
    # the OpenAI shape, or KoboldAI's generate API
    sent = raw["choices"][0]["message"]["content"] or "" if "choices" in raw else raw["results"][0]["text"]
    assert response.message.content and response.message.content.strip() in sent


def test_logprobs_spell_the_answer(target: Target) -> None:
    from orbit_local.facts.providers import get_provider

    if "logprobs" not in get_provider(target.provider).honoured_params:
        pytest.skip(f"{target.name}: the server does not return logprobs")
    message = ChatOrbitLocal(**target.chat_settings(max_tokens=8, logprobs=True, top_logprobs=2)).invoke("Say hi.")
    entries = message.response_metadata["logprobs"]["content"]
    assert "".join(e["token"] for e in entries) == message.text
    assert all(e["logprob"] <= 0 and len(e["top_logprobs"]) == 2 for e in entries)

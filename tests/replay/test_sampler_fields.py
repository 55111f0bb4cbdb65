"""The typed samplers reach a real llama-server and do what its docs say
(``make record PROVIDER=samplers-llamacpp``): a GBNF ``grammar`` and a ``json_schema`` constrain
the answer, in both frameworks. The assertions are the constraints themselves, which SmolLM2
left alone would not meet.
"""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import HumanMessage
from llama_index.core.base.llms.types import ChatMessage, MessageRole

from langchain_orbit_local import ChatOrbitLocal
from llamaindex_orbit_local import OrbitLocal
from tests.targets import Target, replay_params, samplers_targets

pytestmark = pytest.mark.vcr

TARGETS = replay_params(samplers_targets(), "sampler")

YES_NO = 'root ::= "yes" | "no"'
SCHEMA = {
    "type": "object",
    "properties": {"colour": {"type": "string", "enum": ["red", "green", "blue"]}, "bright": {"type": "boolean"}},
    "required": ["colour", "bright"],
}
QUESTION = "Is the sky blue? Tell me about it."


def test_a_grammar_constrains_the_answer(target: Target) -> None:
    answer = ChatOrbitLocal(**target.chat_settings(max_tokens=64, grammar=YES_NO, top_k=1)).invoke(
        [HumanMessage(QUESTION)]
    )
    assert answer.content in ("yes", "no")
    llm = OrbitLocal(**target.chat_settings(max_tokens=64, grammar=YES_NO))
    assert llm.chat([ChatMessage(role=MessageRole.USER, content=QUESTION)]).message.content in ("yes", "no")


def test_a_json_schema_shapes_the_whole_answer(target: Target) -> None:
    answer = ChatOrbitLocal(
        **target.chat_settings(max_tokens=64, json_schema=SCHEMA, min_p=0.05, repeat_penalty=1.1)
    ).invoke([HumanMessage("Describe the sky as JSON.")])
    value = json.loads(str(answer.content))
    assert set(value) == {"colour", "bright"}
    assert value["colour"] in ("red", "green", "blue") and isinstance(value["bright"], bool)

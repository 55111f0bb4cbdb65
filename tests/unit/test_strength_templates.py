"""Chat templates for KoboldAI's raw-prompt API: each family's published markup (ChatML, Llama 3,
Mistral [INST], Alpaca, Vicuna v1.1), every role, and looking a template up by name."""

from __future__ import annotations

import pytest

from orbit_local.templates import TEMPLATES, get_template
from orbit_local.types import Message

CONVERSATION = [
    Message(role="system", content="Be brief."),
    Message(role="user", content="Weather?"),
    Message(role="assistant", content="Which city?"),
    Message(role="user", content="Oslo"),
]


@pytest.mark.parametrize(
    ("name", "prompt"),
    [
        ("alpaca",
         "Be brief.\n\n### Instruction:\nWeather?\n\n### Response:\nWhich city?\n\n### Instruction:\nOslo\n\n"
         "### Response:\n"),
        ("vicuna", "Be brief.\n\nUSER: Weather?\nASSISTANT: Which city?</s>\nUSER: Oslo\nASSISTANT:"),
        ("mistral", "<s>[INST] Be brief.\n\nWeather? [/INST]Which city?</s>[INST] Oslo [/INST]"),
    ],
)  # fmt: skip
def test_a_conversation_renders_in_the_familys_markup(name: str, prompt: str) -> None:
    assert get_template(name).render(CONVERSATION) == prompt


def test_a_tool_result_is_shown_to_the_model_as_user_text() -> None:
    messages = [
        Message(role="user", content="Weather in Oslo?"),
        Message(role="tool", content='{"temp": 3}', tool_call_id="call_7"),
        Message(role="tool", content="ok"),
    ]
    assert get_template("chatml").render(messages) == (
        "<|im_start|>user\nWeather in Oslo?<|im_end|>\n"
        '<|im_start|>user\nTool result (call_7):\n{"temp": 3}<|im_end|>\n'
        "<|im_start|>user\nTool result (call):\nok<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_a_system_prompt_with_no_user_turn_is_still_sent_where_there_is_no_system_role() -> None:
    """Mistral has no system role: the system text goes into the next user turn, or its own."""
    mistral = get_template("mistral")
    assert mistral.render([Message(role="system", content="Be brief.")]) == "<s>[INST] Be brief. [/INST]"
    two = [Message(role="system", content="A."), Message(role="system", content="B.")]
    assert mistral.render([*two, Message(role="user", content="Hi")]) == "<s>[INST] A.\n\nB.\n\nHi [/INST]"


def test_the_llama3_prompt_opens_with_its_bos_and_ends_with_an_open_assistant_header() -> None:
    prompt = get_template("llama3").render([Message(role="user", content="Hi")])
    assert prompt == (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )


@pytest.mark.parametrize(("name", "stop"), [("chatml", "<|im_end|>"), ("llama3", "<|eot_id|>"), ("vicuna", "</s>")])
def test_each_family_stops_at_its_end_of_turn(name: str, stop: str) -> None:
    assert stop in get_template(name).stop


def test_templates_are_looked_up_by_name_in_any_case() -> None:
    assert get_template("ChatML") is TEMPLATES["chatml"]
    assert get_template("LLAMA3").name == "llama3"
    with pytest.raises(ValueError, match="Unknown chat template 'zephyr'") as info:
        get_template("zephyr")
    assert all(name in str(info.value) for name in ("alpaca", "chatml", "llama3", "mistral", "vicuna"))
    assert info.value.__cause__ is None and info.value.__suppress_context__

"""Chat templates for servers whose API takes a raw prompt (KoboldAI's ``/api/v1/generate``).

A template renders neutral messages into one prompt that ends where the assistant's answer
begins, and names the stop sequences that end an assistant turn. Templates are data: adding
one is adding a :class:`ChatTemplate` to :data:`TEMPLATES`.
"""

from __future__ import annotations

from dataclasses import dataclass

from orbit_local.facts.types import Message


@dataclass(frozen=True, slots=True)
class ChatTemplate:
    """How one model family marks up a conversation.

    Each ``*_prefix``/``*_suffix`` pair wraps a message of that role; ``generation_prefix``
    opens the assistant turn the model is asked to complete. ``stop`` ends that turn.
    """

    name: str
    system_prefix: str
    system_suffix: str
    user_prefix: str
    user_suffix: str
    assistant_prefix: str
    assistant_suffix: str
    generation_prefix: str
    stop: tuple[str, ...]
    bos: str = ""
    system_as_user: bool = False  # the family has no system role: fold it into the first user turn

    def render(self, messages: list[Message]) -> str:
        """The prompt for ``messages``, ending with the open assistant turn."""
        parts = [self.bos]
        pending_system = ""
        for message in messages:
            text = message.content
            if message.role == "system":
                if self.system_as_user:
                    pending_system += text + "\n\n"
                else:
                    parts.append(f"{self.system_prefix}{text}{self.system_suffix}")
            elif message.role == "user":
                parts.append(f"{self.user_prefix}{pending_system}{text}{self.user_suffix}")
                pending_system = ""
            elif message.role == "assistant":
                parts.append(f"{self.assistant_prefix}{text}{self.assistant_suffix}")
            else:  # tool results: shown to the model as user text
                parts.append(
                    f"{self.user_prefix}Tool result ({message.tool_call_id or 'call'}):\n{text}{self.user_suffix}"
                )
        if pending_system:
            parts.append(f"{self.user_prefix}{pending_system.strip()}{self.user_suffix}")
        parts.append(self.generation_prefix)
        return "".join(parts)


TEMPLATES: dict[str, ChatTemplate] = {
    t.name: t
    for t in (
        ChatTemplate(
            name="chatml",
            system_prefix="<|im_start|>system\n",
            system_suffix="<|im_end|>\n",
            user_prefix="<|im_start|>user\n",
            user_suffix="<|im_end|>\n",
            assistant_prefix="<|im_start|>assistant\n",
            assistant_suffix="<|im_end|>\n",
            generation_prefix="<|im_start|>assistant\n",
            stop=("<|im_end|>", "<|im_start|>"),
        ),
        ChatTemplate(
            name="llama3",
            bos="<|begin_of_text|>",
            system_prefix="<|start_header_id|>system<|end_header_id|>\n\n",
            system_suffix="<|eot_id|>",
            user_prefix="<|start_header_id|>user<|end_header_id|>\n\n",
            user_suffix="<|eot_id|>",
            assistant_prefix="<|start_header_id|>assistant<|end_header_id|>\n\n",
            assistant_suffix="<|eot_id|>",
            generation_prefix="<|start_header_id|>assistant<|end_header_id|>\n\n",
            stop=("<|eot_id|>", "<|start_header_id|>"),
        ),
        ChatTemplate(
            name="mistral",
            system_prefix="",
            system_suffix="",
            user_prefix="[INST] ",
            user_suffix=" [/INST]",
            assistant_prefix="",
            assistant_suffix="</s>",
            generation_prefix="",
            stop=("</s>", "[INST]"),
            bos="<s>",
            system_as_user=True,
        ),
        ChatTemplate(
            name="alpaca",
            system_prefix="",
            system_suffix="\n\n",
            user_prefix="### Instruction:\n",
            user_suffix="\n\n",
            assistant_prefix="### Response:\n",
            assistant_suffix="\n\n",
            generation_prefix="### Response:\n",
            stop=("### Instruction:", "### Response:"),
        ),
        ChatTemplate(
            name="vicuna",
            system_prefix="",
            system_suffix="\n\n",
            user_prefix="USER: ",
            user_suffix="\n",
            assistant_prefix="ASSISTANT: ",
            assistant_suffix="</s>\n",
            generation_prefix="ASSISTANT:",
            stop=("USER:", "</s>"),
        ),
    )
}

DEFAULT_TEMPLATE = "chatml"


def get_template(name: str) -> ChatTemplate:
    try:
        return TEMPLATES[name.lower()]
    except KeyError:
        raise ValueError(f"Unknown chat template {name!r}. Known: {', '.join(sorted(TEMPLATES))}.") from None

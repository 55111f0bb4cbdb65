"""Which class serves which provider, in both frameworks: the table the tests iterate."""

from __future__ import annotations

from dataclasses import dataclass

from langchain_orbit_local import (
    BaseChatOrbitLocal,
    ChatFastChat,
    ChatGaia,
    ChatGPT4All,
    ChatKoboldAI,
    ChatLlamaCpp,
    ChatLMStudio,
    ChatLocalAI,
    ChatOllamaOpenAI,
    ChatOrbitLocal,
    ChatShimmy,
    ChatVLLM,
)
from llamaindex_orbit_local import (
    VLLM,
    FastChat,
    Gaia,
    GPT4All,
    KoboldAI,
    LlamaCpp,
    LMStudio,
    LocalAI,
    OllamaOpenAI,
    OrbitLocal,
    OrbitLocalLLM,
    Shimmy,
)


@dataclass(frozen=True)
class Pair:
    provider: str
    langchain: type[BaseChatOrbitLocal]
    llamaindex: type[OrbitLocalLLM]
    env_prefix: str


PAIRS = [
    Pair("lmstudio", ChatLMStudio, LMStudio, "LMSTUDIO_"),
    Pair("localai", ChatLocalAI, LocalAI, "LOCALAI_"),
    Pair("fastchat", ChatFastChat, FastChat, "FASTCHAT_"),
    Pair("gpt4all", ChatGPT4All, GPT4All, "GPT4ALL_"),
    Pair("koboldai", ChatKoboldAI, KoboldAI, "KOBOLDAI_"),
    Pair("lemonade", ChatGaia, Gaia, "LEMONADE_"),
    Pair("llamacpp", ChatLlamaCpp, LlamaCpp, "LLAMACPP_"),
    Pair("vllm", ChatVLLM, VLLM, "VLLM_"),
    Pair("shimmy", ChatShimmy, Shimmy, "SHIMMY_"),
    Pair("ollama", ChatOllamaOpenAI, OllamaOpenAI, "OLLAMA_"),
    Pair("openai-compatible", ChatOrbitLocal, OrbitLocal, "ORBIT_LOCAL_"),
]

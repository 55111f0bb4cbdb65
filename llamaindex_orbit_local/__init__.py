"""LlamaIndex LLMs for local inference servers, built on :mod:`orbit_local`."""

from llamaindex_orbit_local.llms import (
    VLLM,
    FastChat,
    Gaia,
    GPT4All,
    KoboldAI,
    LlamaCpp,
    LMStudio,
    LocalAI,
    Ollama,
    OrbitLocal,
    OrbitLocalLLM,
    Shimmy,
)

__all__ = [
    "VLLM",
    "FastChat",
    "GPT4All",
    "Gaia",
    "KoboldAI",
    "LMStudio",
    "LlamaCpp",
    "LocalAI",
    "Ollama",
    "OrbitLocal",
    "OrbitLocalLLM",
    "Shimmy",
]

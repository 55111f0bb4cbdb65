"""LlamaIndex LLMs for local inference servers, built on :mod:`orbit_local`."""

from llamaindex_orbit_local.embeddings import (
    FastChatEmbedding,
    GaiaEmbedding,
    LlamaCppEmbedding,
    LMStudioEmbedding,
    LocalAIEmbedding,
    OllamaEmbedding,
    OrbitLocalEmbedding,
    VLLMEmbedding,
)
from llamaindex_orbit_local.factory import llm_class, llm_from_config
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
from llamaindex_orbit_local.rerank import (
    GaiaRerank,
    LlamaCppRerank,
    LocalAIRerank,
    OrbitLocalRerank,
    VLLMRerank,
)

__all__ = [
    "FastChatEmbedding",
    "GaiaEmbedding",
    "LMStudioEmbedding",
    "LlamaCppEmbedding",
    "LocalAIEmbedding",
    "OllamaEmbedding",
    "OrbitLocalEmbedding",
    "VLLMEmbedding",
    "GaiaRerank",
    "LlamaCppRerank",
    "LocalAIRerank",
    "OrbitLocalRerank",
    "VLLMRerank",
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
    "llm_class",
    "llm_from_config",
]

"""LangChain chat models for local inference servers, built on :mod:`orbit_local`."""

from langchain_orbit_local.chat_models import (
    BaseChatOrbitLocal,
    ChatFastChat,
    ChatGaia,
    ChatGPT4All,
    ChatKoboldAI,
    ChatLlamaCpp,
    ChatLMStudio,
    ChatLocalAI,
    ChatOllama,
    ChatOrbitLocal,
    ChatShimmy,
    ChatVLLM,
)
from langchain_orbit_local.embeddings import (
    BaseOrbitLocalEmbeddings,
    FastChatEmbeddings,
    GaiaEmbeddings,
    LlamaCppEmbeddings,
    LMStudioEmbeddings,
    LocalAIEmbeddings,
    OllamaEmbeddings,
    OrbitLocalEmbeddings,
    VLLMEmbeddings,
)
from langchain_orbit_local.factory import chat_model_class, chat_model_from_config

__all__ = [
    "BaseChatOrbitLocal",
    "BaseOrbitLocalEmbeddings",
    "FastChatEmbeddings",
    "GaiaEmbeddings",
    "LMStudioEmbeddings",
    "LlamaCppEmbeddings",
    "LocalAIEmbeddings",
    "OllamaEmbeddings",
    "OrbitLocalEmbeddings",
    "VLLMEmbeddings",
    "ChatFastChat",
    "ChatGPT4All",
    "ChatGaia",
    "ChatKoboldAI",
    "ChatLMStudio",
    "ChatLlamaCpp",
    "ChatLocalAI",
    "ChatOllama",
    "ChatOrbitLocal",
    "ChatShimmy",
    "ChatVLLM",
    "chat_model_class",
    "chat_model_from_config",
]

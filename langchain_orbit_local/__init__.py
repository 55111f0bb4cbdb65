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

__all__ = [
    "BaseChatOrbitLocal",
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
]

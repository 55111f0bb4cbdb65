"""Build the right LangChain class from an ORBIT ``inference.yaml`` block."""

from __future__ import annotations

import os
from typing import Any

from langchain_orbit_local.chat_models import BaseChatOrbitLocal, ChatOrbitLocal
from orbit_local.features.adapter_kit import class_for_provider, config_settings
from orbit_local.features.config_file import load_config


def chat_model_class(provider: str) -> type[BaseChatOrbitLocal]:
    """The class named for a server (``ChatLMStudio`` for "lmstudio"), else ``ChatOrbitLocal``."""
    cls: type[BaseChatOrbitLocal] = class_for_provider(BaseChatOrbitLocal, provider, ChatOrbitLocal)
    return cls


def chat_model_from_config(
    path: str | os.PathLike[str], name: str | None = None, **overrides: Any
) -> BaseChatOrbitLocal:
    """The chat model for the named block, else for the first enabled one.

    ``overrides`` win over environment variables, which win over the file.
    """
    block = load_config(path).block(name)
    cls = chat_model_class(block.provider)
    return cls(**config_settings(cls, block, overrides))

"""Build the right LlamaIndex class from an ORBIT ``inference.yaml`` block."""

from __future__ import annotations

import os
from typing import Any

from llamaindex_orbit_local.llms import OrbitLocal, OrbitLocalLLM
from orbit_local.features.adapter_kit import class_for_provider, config_settings
from orbit_local.features.config_file import load_config


def llm_class(provider: str) -> type[OrbitLocalLLM]:
    """The class named for a server (``LMStudio`` for "lmstudio"), else ``OrbitLocal``."""
    cls: type[OrbitLocalLLM] = class_for_provider(OrbitLocalLLM, provider, OrbitLocal)
    return cls


def llm_from_config(path: str | os.PathLike[str], name: str | None = None, **overrides: Any) -> OrbitLocalLLM:
    """The LLM for the named block, else for the first enabled one.

    ``overrides`` win over environment variables, which win over the file.
    """
    block = load_config(path).block(name)
    cls = llm_class(block.provider)
    return cls(**config_settings(cls, block, overrides))

"""Build the right LlamaIndex class from an ORBIT ``inference.yaml`` block."""

from __future__ import annotations

import os
from typing import Any

from llamaindex_orbit_local.llms import OrbitLocal, OrbitLocalLLM
from orbit_local.config import config_settings
from orbit_local.config_file import load_config
from orbit_local.providers import get_provider


def _subclasses(cls: type[OrbitLocalLLM]) -> list[type[OrbitLocalLLM]]:
    found: list[type[OrbitLocalLLM]] = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def llm_class(provider: str) -> type[OrbitLocalLLM]:
    """The class named for a server (``LMStudio`` for "lmstudio"), else ``OrbitLocal``."""
    name = get_provider(provider).name
    for cls in _subclasses(OrbitLocalLLM):
        if cls.model_fields["provider"].default == name:
            return cls
    return OrbitLocal


def llm_from_config(path: str | os.PathLike[str], name: str | None = None, **overrides: Any) -> OrbitLocalLLM:
    """The LLM for the named block, else for the first enabled one.

    ``overrides`` win over environment variables, which win over the file.
    """
    block = load_config(path).block(name)
    cls = llm_class(block.provider)
    return cls(**config_settings(cls, block, overrides))

"""Where the examples find a server: env vars, with llama-cpp-python on loopback as default."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class ExampleServer:
    provider: str = os.environ.get("ORBIT_EXAMPLE_PROVIDER", "llama-cpp-python")
    base_url: str = os.environ.get("ORBIT_EXAMPLE_BASE_URL", "http://127.0.0.1:8000/v1")
    chat_model: str = os.environ.get("ORBIT_EXAMPLE_CHAT_MODEL", "smollm2")
    tools_model: str = os.environ.get("ORBIT_EXAMPLE_TOOLS_MODEL", "smollm2-tools")
    embed_model: str = os.environ.get("ORBIT_EXAMPLE_EMBED_MODEL", "smollm2-embed")


DEFAULT_SERVER = ExampleServer()

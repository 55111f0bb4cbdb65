"""`make demo`: find the first local server that answers and stream one chat through
LangChain and one through LlamaIndex — or say clearly that none runs and how to start one."""

from __future__ import annotations

import sys

from langchain_orbit_local import ChatOrbitLocal
from llamaindex_orbit_local import OrbitLocal
from orbit_local.discovery import discover
from orbit_local.errors import OrbitLocalError
from orbit_local.providers import list_providers

PROMPT = "In one sentence, what is a local LLM server?"


def main() -> int:
    print("Looking for local inference servers on their default ports (and *_BASE_URL overrides)...")
    found = [server for server in discover() if server.default_model]
    if not found:
        print("\nNo local server answered. Start one of these, then run `make demo` again:")
        for profile in list_providers():
            if profile.default_base_url:
                print(f"  - {profile.display_name:<26} {profile.default_base_url:<34} {profile.start_hint}")
        print("\nOr point at any OpenAI-compatible server: ORBIT_LOCAL_BASE_URL=http://host:port/v1 make demo")
        return 0
    server = found[0]
    print(f"Found {server.profile.display_name} at {server.base_url} serving {server.default_model!r}\n")
    try:
        print("LangChain  > ", end="", flush=True)
        chat = ChatOrbitLocal(provider=server.profile.name, base_url=server.base_url, max_tokens=64)
        usage = None
        for chunk in chat.stream(PROMPT):
            print(chunk.content, end="", flush=True)
            usage = chunk.usage_metadata or usage
        print(f"\n             usage: {usage or 'not reported by this server'}")
        print("LlamaIndex > ", end="", flush=True)
        llm = OrbitLocal(provider=server.profile.name, base_url=server.base_url, max_tokens=64)
        last = None
        for response in llm.stream_complete(PROMPT):
            print(response.delta or "", end="", flush=True)
            last = response
        print(f"\n             usage: {(last.additional_kwargs if last else None) or 'not reported by this server'}")
    except OrbitLocalError as exc:
        print(f"\n{type(exc).__name__}: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Find local servers that answer, by probing each profile's base URL (or its env override).

Used by ``make demo`` now and by ``orbit-local discover`` later. Probes run concurrently
with a short timeout, so a machine with nothing running answers in about a second.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

from orbit_local.client import make_protocol, pick_default_model
from orbit_local.errors import OrbitLocalError
from orbit_local.providers import ProviderProfile, list_providers
from orbit_local.transport import AsyncTransport


@dataclass(slots=True)
class FoundServer:
    """A server that answered its model-list endpoint."""

    profile: ProviderProfile
    base_url: str
    models: list[str]
    default_model: str | None
    owners: frozenset[str] = frozenset()

    @property
    def fingerprint_matches(self) -> bool:
        return bool(self.profile.owned_by & self.owners)


async def _probe(profile: ProviderProfile, timeout: float) -> FoundServer | None:
    try:
        base_url = profile.resolve_base_url()
    except ValueError:
        return None
    protocol = make_protocol(profile, base_url)
    transport = AsyncTransport(
        profile, base_url, api_key=profile.resolve_api_key(), timeout=timeout, max_retries=0, warmup_timeout=0
    )
    try:
        models = protocol.parse_models(await transport.request_json(protocol.models_request()))
    except (OrbitLocalError, httpx.HTTPError):
        return None
    finally:
        await transport.aclose()
    owners = frozenset(m.owned_by for m in models if m.owned_by)
    return FoundServer(profile, base_url, [m.id for m in models], pick_default_model(models), owners)


async def adiscover(timeout: float = 1.0, profiles: list[ProviderProfile] | None = None) -> list[FoundServer]:
    """Every profile whose server answered, in registry order (several profiles may share a port)."""
    candidates = profiles if profiles is not None else list_providers()
    results = [found for found in await asyncio.gather(*(_probe(p, timeout) for p in candidates)) if found]
    return _one_per_url(results)


def _one_per_url(results: list[FoundServer]) -> list[FoundServer]:
    """Several profiles share default ports (8000: FastChat, vLLM, llama-cpp-python; 8080:
    LocalAI, llama.cpp). Keep, per URL, the profile whose ``owned_by`` fingerprint matches."""
    by_url: dict[str, list[FoundServer]] = {}
    for found in results:
        by_url.setdefault(found.base_url, []).append(found)
    chosen = []
    for group in by_url.values():
        matching = [f for f in group if f.fingerprint_matches]
        chosen.append((matching or group)[0])
    return chosen


def discover(timeout: float = 1.0, profiles: list[ProviderProfile] | None = None) -> list[FoundServer]:
    """Synchronous wrapper of :func:`adiscover`."""
    return asyncio.run(adiscover(timeout, profiles))

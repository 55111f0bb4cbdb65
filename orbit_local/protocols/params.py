"""Optional parameters and samplers: send what the server honours, say what is not sent.

Shared by every protocol, so a parameter is never dropped in silence whichever wire format
the server speaks.
"""

from __future__ import annotations

from typing import Any

from orbit_local.facts.log import warn
from orbit_local.facts.providers import ProviderProfile
from orbit_local.facts.types import Message


class ParameterNotSentWarning(UserWarning):
    """A setting the server does not honour was dropped before sending."""


class ModelFallbackWarning(UserWarning):
    """The server answered with another model than the one asked for (GPT4All serves its
    default model for a name it does not know, with HTTP 200)."""


def add_options(body: dict[str, Any], options: dict[str, Any], profile: ProviderProfile) -> None:
    """Put the options the profile honours into ``body``; warn once per call about the rest."""
    dropped = []
    for name, value in options.items():
        if name in profile.honoured_params:
            body[name] = value
        else:
            dropped.append(name)
    _warn_not_sent(profile, dropped)


def add_samplers(body: dict[str, Any], samplers: dict[str, Any], profile: ProviderProfile) -> None:
    """Put the samplers the profile honours into ``body`` under the server's own key for each
    (``repeat_penalty`` is vLLM's ``repetition_penalty``); warn once per call about the rest."""
    dropped = []
    for name, value in samplers.items():
        key = profile.sampler_keys.get(name)
        if key is None:
            dropped.append(name)
        else:
            body[key] = value
    _warn_not_sent(profile, dropped, hint=" If your server build takes one, pass it in extra_body.")


def _warn_not_sent(profile: ProviderProfile, dropped: list[str], hint: str = "") -> None:
    if dropped:
        warn(
            f"{profile.display_name} does not honour {', '.join(sorted(dropped))}; not sent.{hint}",
            ParameterNotSentWarning,
        )


def reasoning_field(message: Message, profile: ProviderProfile) -> dict[str, str]:
    """An assistant turn's reasoning under the key the server reads it from, or nothing."""
    if message.role == "assistant" and message.reasoning and profile.reasoning_key:
        return {profile.reasoning_key: message.reasoning}
    return {}


def warn_reasoning_not_sent(messages: list[Message], profile: ProviderProfile) -> None:
    """Say once per call that the history's reasoning stays behind on a server that takes none."""
    if profile.reasoning_key is not None:
        return
    turns = sum(1 for m in messages if m.role == "assistant" and m.reasoning)
    if turns:
        warn(
            f"{profile.display_name} takes no reasoning back: the reasoning of {turns} assistant "
            f"turn{'s' if turns > 1 else ''} in the history is not sent (its text and tool calls are).",
            ParameterNotSentWarning,
        )

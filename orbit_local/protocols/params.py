"""OpenAI optional parameters: send what the server honours, say what is not sent.

Shared by every protocol, so a parameter is never dropped in silence whichever wire format
the server speaks.
"""

from __future__ import annotations

from typing import Any

from orbit_local.log import warn
from orbit_local.providers import ProviderProfile


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
    if dropped:
        warn(
            f"{profile.display_name} does not honour {', '.join(sorted(dropped))}; not sent.",
            ParameterNotSentWarning,
        )

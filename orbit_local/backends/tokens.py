"""Token counts from the server's own tokenizer.

Local servers run the model's real tokenizer and most expose it: llama.cpp ``/tokenize``,
llama-cpp-python ``/extras/tokenize``, KoboldCpp ``/api/extra/tokencount``, vLLM ``/tokenize``,
Lemonade and LocalAI ``/tokenize``. Which endpoint, and the keys of its request and answer,
are profile data (:class:`TokenizeEndpoint`); this module builds the request and reads the
answer, without I/O. Where a server has no endpoint, :func:`estimate` gives a count that is
labelled as an estimate by whoever uses it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from orbit_local.facts.errors import ProtocolError, UnsupportedFeatureError
from orbit_local.facts.log import warn
from orbit_local.facts.providers import ProviderProfile
from orbit_local.facts.types import HttpRequest

if TYPE_CHECKING:  # the client imports this module's request builders
    from orbit_local.backends.client import ChatBackend

CHARS_PER_TOKEN = 4.0
"""The usual rule of thumb for English text with BPE tokenizers; only for estimates."""


def tokenize_request(profile: ProviderProfile, text: str, model: str | None) -> HttpRequest:
    """The request that tokenizes ``text`` on this server (``UnsupportedFeatureError`` if none)."""
    endpoint = profile.tokenize
    if endpoint is None:
        raise UnsupportedFeatureError(
            "this server has no tokenizer endpoint",
            provider=profile.display_name,
            hint="token counts can only be estimated here",
        )
    body: dict[str, Any] = {endpoint.text_key: text}
    if endpoint.model_key and model:
        body[endpoint.model_key] = model
    return HttpRequest("POST", endpoint.path, body, from_root=endpoint.from_root)


def parse_tokens(profile: ProviderProfile, payload: Any) -> tuple[list[int] | None, int]:
    """``(ids or None, count)`` from the tokenizer's answer."""
    endpoint = profile.tokenize
    if endpoint is None or not isinstance(payload, dict):
        raise ProtocolError("the tokenizer answered something that is not a JSON object", provider=profile.display_name)
    ids = payload.get(endpoint.ids_key) if endpoint.ids_key else None
    if isinstance(ids, list) and all(isinstance(i, int) for i in ids):
        count = payload.get(endpoint.count_key) if endpoint.count_key else None
        return list(ids), int(count) if isinstance(count, int) and count >= 0 else len(ids)
    count = payload.get(endpoint.count_key) if endpoint.count_key else None
    if isinstance(count, int) and count >= 0:
        return None, count
    raise ProtocolError(
        f"the tokenizer's answer has no token ids or count: {str(payload)[:120]}",
        provider=profile.display_name,
    )


def estimate(text: str) -> int:
    """A rough count for servers without a tokenizer: never presented as exact."""
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


class TokenCountEstimateWarning(UserWarning):
    """A token count was estimated because the server has no tokenizer endpoint."""


def count_tokens(client: ChatBackend, text: str, model: str | None) -> int:
    """The server's count for ``text``; an estimate, with a warning, where it has no tokenizer."""
    try:
        return int(client.tokenize(text, model)[1])
    except UnsupportedFeatureError:
        warn(
            f"{client.profile.display_name} has no tokenizer endpoint: token counts are estimated "
            f"({CHARS_PER_TOKEN:g} characters a token)",
            TokenCountEstimateWarning,
        )
        return estimate(text)


def token_ids(client: ChatBackend, text: str, model: str | None) -> list[int]:
    """The server's token ids for ``text``; ids cannot be estimated, so a server without them raises."""
    ids, _ = client.tokenize(text, model)
    if ids is None:
        raise UnsupportedFeatureError(
            "this server counts tokens but does not return their ids",
            provider=client.profile.display_name,
            hint="use get_num_tokens",
        )
    return list(ids)

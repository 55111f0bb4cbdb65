"""Turn any server's error answer into one typed :mod:`orbit_local.facts.errors` exception.

Pure functions: they take a status code and body text and return an exception object, so
the same code classifies an HTTP error response, an ``{"error": ...}`` inside a 200 body and
an error frame inside a stream.

Envelopes understood (see ``docs/providers/``):
    ``{"error": {"message", "type", "code", ...}}``  OpenAI, LocalAI, llama.cpp, vLLM, Lemonade
    ``{"error": "text"}``                           LM Studio, Ollama, Lemonade
    ``{"object": "error", "message", "code"}``       FastChat, older vLLM
    ``{"detail": {"msg", "type"}}``                  KoboldCpp / KoboldAI
    ``{"detail": {"error": {...}}}``                 FastChat's 401
    ``{"text": ..., "error_code": 50002}``           FastChat worker error inside a stream
    plain text or an empty body                     many 404s and 500s

A 404 is two different failures: a model the server does not know (vLLM's "The model `x` does
not exist", Ollama's "model not found, try pulling it", Lemonade's ``model_not_found``) and a
route it does not have (KoboldCpp's "this endpoint does not exist", Lemonade's "The requested
endpoint does not exist", llama.cpp's "File Not Found", FastAPI's "Not Found", empty bodies;
see ``cassettes/detect-*``). The first is a :class:`ModelNotFoundError`, the second an
:class:`EndpointNotFoundError` that names the route and says what to check.
"""

from __future__ import annotations

import json
from typing import Any

from orbit_local.facts.errors import (
    AuthenticationError,
    BadRequestError,
    ContextOverflowError,
    EndpointNotFoundError,
    ModelNotFoundError,
    ModelNotLoadedError,
    OrbitLocalError,
    ProtocolError,
    RateLimitError,
    ServerBusyError,
    ServerError,
    UnsupportedFeatureError,
)
from orbit_local.facts.providers import ProviderProfile
from orbit_local.facts.urls import path_of

_CONTEXT_MARKERS = (
    "context_length_exceeded",
    "exceed_context_size",
    "context size has been exceeded",
    "exceeds the available context size",
    "maximum context length",
    "context length exceeded",
    "context window",
    "prompt size exceeds",
    "input length exceeds the context length",
    "exceeds maximum context length",
    "context_compression_error",
)
_ENDPOINT_MARKERS = (
    "endpoint does not exist",  # KoboldCpp, Lemonade
    "unexpected endpoint",  # LM Studio, which says so with HTTP 200
    "endpoint not found",
    "no such endpoint",
    "route not found",
    "method not allowed",
)
"""Route-not-found wording, checked before the model markers ("does not exist")."""
_GENERIC_NOT_FOUND = frozenset(
    {"", "not found", "file not found", "resource not found", "404 not found", "404 page not found", "404"}
)
"""A 404 whose whole message is one of these (FastAPI, llama.cpp, LocalAI, Go's mux, an empty
body) is about the route; a 404 that says more ("response not found: <id>") is kept as the
server's own bad-request answer."""


def _route_missing(status: int | None, message: str) -> bool:
    if status == 405:
        return True
    if status != 404:
        return False
    text = message.strip().strip(".!").lower()
    return text in _GENERIC_NOT_FOUND or text.startswith("<")  # or an HTML error page


_NOT_LOADED_MARKERS = (
    "model is not loaded",  # llama.cpp's router started with --no-models-autoload (HTTP 400)
    "no models loaded",  # LM Studio with JIT loading off
    "model not loaded",  # Lemonade's unload of a model that is not loaded (HTTP 404)
)
_RATE_MARKERS = ("rate limit", "rate_limit", "too many requests", "rate-limit")
_MODEL_MARKERS = (
    "model_not_found",
    "no models loaded",
    "invalid model identifier",
    "does not exist",
    "not found, try pulling it",
    "allowed now, your model",
    "notfounderror",
)
_BUSY_MARKERS = (
    "service_unavailable",
    "server is busy",
    "server busy",
    "loading model",
    "model_loading",
    "unavailable_error",
    "no slot available",
)
_VALIDATION_MARKERS = (
    "validation error",  # pydantic (llama-cpp-python answers these with HTTP 500)
    "input should be",
    "field required",
    "'loc':",
    "bad_input",  # KoboldCpp's {"detail": {"type": "bad_input"}}, sent with HTTP 500
    "invalid_request_error",
    "unprocessable",
)
_UNSUPPORTED_MARKERS = ("not_supported_error", "not supported", "not implemented")
_MEDIA_MARKERS = ("image input", "audio input", "video input", "mmproj", "multimodal")
"""A refused image or audio part (llama-server without a projector: "image input is not
supported - hint: ... provide the mmproj"): the model loaded cannot take it."""
_MEDIA_HINT = (
    "the model this server loaded cannot take images or audio: load a vision (or audio) model, "
    "or remove the image or audio from the message"
)
_FASTCHAT_CODES: dict[int, type[OrbitLocalError]] = {
    40001: BadRequestError,
    40301: ModelNotFoundError,
    40302: BadRequestError,
    40303: ContextOverflowError,
    50001: ServerError,
    50002: ServerError,
}


def extract_error(payload: Any) -> tuple[str, str] | None:
    """Find ``(message, type_and_code)`` in a decoded JSON body, or ``None`` if it is no error."""
    if not isinstance(payload, dict):
        return None
    err = payload.get("error")
    if isinstance(err, dict):
        message = str(err.get("message") or err.get("msg") or "")
        tags = f"{err.get('type') or ''} {err.get('code') or ''}"
        return message, tags
    if isinstance(err, str) and err:
        return err, str(payload.get("code") or "")
    if payload.get("object") == "error":
        return str(payload.get("message") or ""), f"{payload.get('type') or ''} {payload.get('code') or ''}"
    detail = payload.get("detail")
    if isinstance(detail, dict):
        inner = detail.get("error")
        if isinstance(inner, dict):
            return str(inner.get("message") or ""), f"{inner.get('type') or ''} {inner.get('code') or ''}"
        msg = detail.get("msg") or detail.get("error") or ""
        return str(msg), str(detail.get("type") or "")
    if isinstance(detail, str):
        return detail, ""
    if "error_code" in payload and "text" in payload:
        return str(payload.get("text") or ""), str(payload.get("error_code"))
    return None


def _classify(status: int | None, message: str, tags: str) -> type[OrbitLocalError]:
    haystack = f"{message} {tags}".lower()
    for code, cls in _FASTCHAT_CODES.items():
        if str(code) in tags.split():
            return cls
    if any(marker in haystack for marker in _CONTEXT_MARKERS):
        return ContextOverflowError
    if status in (401, 403) or "unauthorized" in haystack or "invalid_api_key" in haystack:
        return AuthenticationError
    if any(marker in haystack for marker in _ENDPOINT_MARKERS):
        return EndpointNotFoundError
    if any(marker in haystack for marker in _NOT_LOADED_MARKERS):
        return ModelNotLoadedError
    if any(marker in haystack for marker in _MODEL_MARKERS):
        return ModelNotFoundError
    if status == 404 and "model" in haystack and "not found" in haystack:
        return ModelNotFoundError
    if _route_missing(status, message):
        return EndpointNotFoundError
    if status == 429 or any(marker in haystack for marker in _RATE_MARKERS):
        return RateLimitError
    if status == 503 or any(marker in haystack for marker in _BUSY_MARKERS):
        return ServerBusyError
    if status == 501 or any(marker in haystack for marker in (*_UNSUPPORTED_MARKERS, *_MEDIA_MARKERS)):
        return UnsupportedFeatureError
    if any(marker in haystack for marker in _VALIDATION_MARKERS):
        return BadRequestError  # the request was wrong, whatever status the server chose
    if status is not None and 400 <= status < 500:
        return BadRequestError
    if status is None or status >= 500:
        return ServerError
    return ProtocolError


def _status_in_tags(tags: str) -> int | None:
    """An HTTP status some servers repeat as ``code`` inside the error object (LocalAI, llama.cpp)."""
    for tag in tags.split():
        if tag.isdigit() and 400 <= int(tag) < 600:
            return int(tag)
    return None


def _endpoint_hint(profile: ProviderProfile, base_url: str) -> str:
    """What to check for a missing route: the base URL's API prefix first (the usual cause),
    then whether this server offers the feature at all."""
    prefix = path_of(profile.default_base_url)
    path = path_of(base_url)
    if prefix and path != prefix:
        return (
            f"{profile.display_name} serves its API under {prefix!r}, but the base URL's path is {path or '/'!r}: "
            f"try base_url ending in {prefix!r} (e.g. {profile.default_base_url}); otherwise this server, or the "
            "way it was started, lacks the feature"
        )
    return (
        "the base URL looks right, so this server (or the way it was started, or its version) lacks this "
        "endpoint; check its documentation for the option that enables it"
    )


def _hint_for(
    cls: type[OrbitLocalError], profile: ProviderProfile, base_url: str = "", message: str = ""
) -> str | None:
    if cls is UnsupportedFeatureError and any(marker in message.lower() for marker in _MEDIA_MARKERS):
        return profile.media_hint or _MEDIA_HINT
    if cls is EndpointNotFoundError:
        return _endpoint_hint(profile, base_url)
    if cls is RateLimitError:
        return "the server limits how often it is called; wait and retry, or send fewer requests at once"
    if cls is ModelNotFoundError:
        return profile.model_hint
    if cls is ModelNotLoadedError:
        loads = profile.model_admin is not None and profile.model_admin.load_path is not None
        how = "load it with `orbit-local models load <model>` or pass auto_load=True; " if loads else ""
        return how + profile.model_hint
    if cls is AuthenticationError:
        return profile.unauthorized_hint or f"pass api_key=... or set {profile.env_api_key}"
    if cls is ServerBusyError:
        return "the server is still busy after the warm-up window; retry later or raise warmup_timeout"
    if cls is ContextOverflowError:
        return "shorten the prompt, lower max_tokens, or load the model with a larger context"
    if cls is UnsupportedFeatureError:
        return "this server (or the way it was started) does not offer that endpoint or option"
    if cls is BadRequestError:
        return "check the values you passed (extra_body, model_kwargs, per-call keywords)"
    return None


def error_from_response(
    profile: ProviderProfile,
    base_url: str,
    status: int | None,
    body: str,
    *,
    route: str | None = None,
    retry_after: float | None = None,
) -> OrbitLocalError:
    """Build the typed exception for an error answer (HTTP error, or an error inside a 200).

    ``route`` ("POST /v1/embeddings") is named by an endpoint-not-found error; ``retry_after``
    (seconds, from ``Retry-After``) is kept by busy and rate-limit errors and shown.
    """
    payload: Any = None
    text = body.strip()
    if text[:1] in ("{", "["):
        try:
            payload = json.loads(text)
        except ValueError:
            payload = None
    found = extract_error(payload)
    if found is not None:
        message, tags = found
    else:
        message, tags = text[:500], ""
    cls = _classify(status, message, tags)
    shown = message or (f"HTTP {status} with an empty body" if status else "error without a message")
    extra: dict[str, Any] = {}
    if cls is EndpointNotFoundError:
        method, _, path = (route or "").partition(" ")
        if status == 405:
            shown = f"the server does not take {method} on {path}" if path else "the server does not take this method"
        else:
            shown = f"the server has no endpoint {route}" if route else "the server has no such endpoint"
        shown += f" ({message})" if message else ""
    if issubclass(cls, ServerBusyError):
        extra["retry_after"] = retry_after
        if retry_after is not None:
            shown += f" (the server asks to wait {retry_after:g} s before retrying)"
    return cls(
        shown,
        provider=profile.display_name,
        base_url=base_url,
        status_code=status,
        server_message=message or None,
        hint=_hint_for(cls, profile, base_url, message),
        body=body[:2000],
        **extra,
    )


def error_in_payload(
    profile: ProviderProfile, base_url: str, payload: Any, status: int | None = None
) -> OrbitLocalError | None:
    """An exception for an error object found inside a successful body or stream frame."""
    found = extract_error(payload)
    if found is None:
        return None
    message, tags = found
    effective = status if status and status >= 400 else _status_in_tags(tags)
    cls = _classify(effective, message, tags)
    return cls(
        message or "the server reported an error without a message",
        provider=profile.display_name,
        base_url=base_url,
        status_code=status,
        server_message=message or None,
        hint=_hint_for(cls, profile, base_url, message),
        body=json.dumps(payload)[:2000],
    )

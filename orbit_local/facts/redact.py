"""Secrets out of everything orbit-local prints: error messages and fields, reprs, log lines.

A base URL may carry credentials (``http://user:key@host:1234/v1``, ``...?api_key=...``) and
every error names its URL, so masking at each call site would be one forgotten site away from
a leak. Instead two choke points call :func:`redact`: :class:`~orbit_local.facts.errors.OrbitLocalError`
on every text field it stores (whenever it is stored), and the ``orbit_local`` logger's filter on
every record. Keys sent as ``Authorization: Bearer`` are registered here by the transport that
sends them (:func:`register_secret`), so a server that echoes one back is masked too — the
pattern of Airflow's secrets masker.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import quote

MASK = "***"
_MIN_SECRET = 4
"""Shorter values are not registered: masking "x" everywhere would garble every message."""

_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/\s?#'\"<>]+)@")
"""``scheme://userinfo@``; greedy up to the last ``@`` before the path, so a password holding
an ``@`` is masked whole."""
_SECRET_PARAMS = re.compile(
    r"(?P<name>[?&;](?:api[_-]?key|apikey|key|token|access[_-]?token|auth|password|passwd|secret|sig|signature)=)"
    r"(?P<value>[^&#\s'\"<>]+)",
    re.IGNORECASE,
)
_AUTH_HEADER = re.compile(
    r"(?P<name>\b(?:authorization[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|token)\s+)?|bearer\s+))"
    r"(?P<value>[A-Za-z0-9._~+/=-]{6,})",  # not "bearer token" in a server's own sentence
    re.IGNORECASE,
)

_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Mask ``value`` (an API key, a header value) wherever orbit-local prints text from now on.

    The raw value and its URL-encoded form are kept in this process only; nothing is written.
    """
    if not value or len(value) < _MIN_SECRET:
        return
    with _lock:
        _secrets.add(value)
        encoded = quote(value, safe="")
        if encoded != value:
            _secrets.add(encoded)


def redact(text: str) -> str:
    """``text`` with URL credentials, secret query parameters, ``Bearer``/``Basic`` tokens and
    registered secrets replaced by ``***``. ``http://user:key@host`` becomes ``http://***@host``:
    still recognisably the URL in use, without its credentials."""
    if not text:
        return text
    if "@" in text:
        text = _USERINFO.sub(rf"\g<scheme>{MASK}@", text)
    if "=" in text:
        text = _SECRET_PARAMS.sub(rf"\g<name>{MASK}", text)
    text = _AUTH_HEADER.sub(rf"\g<name>{MASK}", text)
    if _secrets:
        for secret in sorted(_secrets, key=len, reverse=True):  # longest first: no half-masked key
            if secret in text:
                text = text.replace(secret, MASK)
    return text


def redact_url(url: str) -> str:
    """A URL fit to print: credentials and secret query parameters masked (see :func:`redact`)."""
    return redact(url)

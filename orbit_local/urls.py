"""One check for every ``base_url``: the argument, ``<PREFIX>BASE_URL`` and ``inference.yaml``.

Every way a base URL reaches orbit-local passes through :func:`check_base_url` (the adapters'
field validator, :meth:`ProviderProfile.resolve_base_url` for the client and discovery, and the
file's block), so a URL is cleaned and refused the same way wherever it was written. Surrounding
whitespace, which a copy from a terminal or a quoted shell variable brings along, is stripped;
whitespace inside a URL is a typo and is refused. Error messages show the URL with any
``user:password@`` masked.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")


def shown_url(url: str) -> str:
    """``url`` for a message: ``user:password@`` (a credential) masked."""
    return _USERINFO.sub("***@", url)


def check_base_url(url: str | None, api_prefix: str = "/v1") -> str | None:
    """``http(s)://host[:port][/path]`` with surrounding whitespace stripped; ``None`` for
    nothing (``None``, ``""`` or only whitespace); else a ``ValueError`` that shows the fix."""
    if url is None:
        return None
    url = url.strip()
    if not url:
        return None
    shown = shown_url(url)
    if any(char.isspace() for char in url):
        fixed = "".join(url.split())
        raise ValueError(f"base_url {shown!r} has whitespace inside: write {shown_url(fixed)!r}")
    parts = urlsplit(url)
    if not parts.scheme or "://" not in url:
        bare = shown.lstrip("/")
        suggestion = f"http://{bare}" if "/" in bare else f"http://{bare}{api_prefix}"
        raise ValueError(f"base_url {shown!r} has no scheme: write {suggestion!r}")
    if parts.scheme not in ("http", "https"):
        raise ValueError(
            f"base_url {shown!r} uses {parts.scheme!r}: local servers speak http or https, e.g. 'http://localhost:8080/v1'"
        )
    if not parts.hostname:
        raise ValueError(f"base_url {shown!r} has no host: write e.g. 'http://localhost:8080/v1'")
    try:
        parts.port  # noqa: B018  (raises on a port that is not a number or out of range)
    except ValueError as exc:
        raise ValueError(f"base_url {shown!r} has a bad port ({exc}): write e.g. 'http://localhost:8080/v1'") from None
    return url

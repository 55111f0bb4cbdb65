"""Every rule about a base URL, in one place: check, normalise, API prefix, origin and path.

Every way a base URL reaches orbit-local passes through :func:`check_base_url` (the adapters'
field validator, :func:`normalise_base_url` for the client and discovery, and the
``inference.yaml`` block), so a URL is cleaned and refused the same way wherever it was written.
Surrounding whitespace, which a copy from a terminal or a quoted shell variable brings along, is
stripped; whitespace inside a URL is a typo and is refused. Error messages show the URL with any
``user:password@`` masked. A URL is normalised once, where it enters (a setting, a client, a
detection); everything after that uses it as it is.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")
DEFAULT_API_PREFIX = "/v1"


def shown_url(url: str) -> str:
    """``url`` for a message: ``user:password@`` (a credential) masked."""
    return _USERINFO.sub("***@", url)


def check_base_url(url: str | None, api_prefix: str = DEFAULT_API_PREFIX) -> str | None:
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


def normalise_base_url(url: str | None, api_prefix: str = DEFAULT_API_PREFIX) -> str | None:
    """:func:`check_base_url`, then without a trailing slash: the form every request path is
    appended to (``<base_url>/chat/completions``)."""
    checked = check_base_url(url, api_prefix)
    return checked.rstrip("/") if checked else None


def api_prefix(default_base_url: str) -> str:
    """The API path of a server's default URL (``/v1``; Lemonade's ``/api/v1``): what a bare
    ``http://host:port`` is missing."""
    return urlsplit(default_base_url).path.rstrip("/") or DEFAULT_API_PREFIX


def origin_of(url: str) -> str:
    """``scheme://host:port`` (credentials kept) of a URL, ``http://`` assumed where it has no
    scheme: where probes and root-relative requests go."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    return f"{parts.scheme}://{parts.netloc}"


def path_of(url: str) -> str:
    """A URL's path without a trailing slash (``""`` for a bare origin)."""
    return urlsplit(url if "://" in url else f"http://{url}").path.rstrip("/")


def port_of(url: str) -> int | None:
    """A URL's explicit port (``None`` where it names none)."""
    return urlsplit(url if "://" in url else f"http://{url}").port


def with_api_prefix(url: str, prefix: str) -> str:
    """A URL with a path keeps it (the user said where the API is); a bare origin gets
    ``prefix``."""
    if path_of(url):
        return (url if "://" in url else f"http://{url}").rstrip("/")
    return origin_of(url) + prefix

"""Find local servers and tell which server software answers at a URL.

One set of probes serves three callers: ``orbit-local discover`` (every profile's default
port, concurrently), auto-detection (``provider="auto"``, or ``ChatOrbitLocal(base_url=...)``
with no provider) and the hint added to a server error when another profile would have
avoided it. Reading the answers is pure (:mod:`orbit_local.protocols.fingerprint`); so is the plan of
one detection (:func:`_detection`: rounds of probes, the warm-up waits between them, the
verdict), which both twins drive; only :func:`probe_server`, :func:`aprobe_server` and
:func:`adiscover` do I/O.

What a detection costs is bounded by its caller: one probe waits at most ``timeout``, one
round of probes at most ``budget`` (the synchronous twin sends them in turn, the async one
together). A server that refuses connections or answers 503 while it loads is waited for as a
request would be, by the caller's :class:`~orbit_local.net.retry.RetryPolicy`. What was found is
cached per base URL (two APIs on one host:port are two servers to their users); a failure is
cached for :data:`MISS_TTL` seconds, so a burst of calls does not probe again and again, but a
server started a moment later is found.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from orbit_local.facts.errors import (
    AuthenticationError,
    OrbitLocalError,
    ProtocolError,
    RequestTimeoutError,
    ServerBusyError,
    ServerNotRunningError,
)
from orbit_local.facts.log import logger
from orbit_local.facts.providers import ProviderProfile, get_provider, list_providers
from orbit_local.facts.urls import origin_of, path_of
from orbit_local.net._lazy import lazy_module
from orbit_local.net.retry import RetryPolicy
from orbit_local.protocols.fingerprint import (
    PROBES,
    Answer,
    FoundServer,
    Probe,
    base_url_for,
    classify,
    model_ids,
    probe_url,
)

if TYPE_CHECKING:
    import httpx
else:
    httpx = lazy_module("httpx")

__all__ = [
    "DETECT_BUDGET",
    "DETECT_TIMEOUT",
    "HINT_BUDGET",
    "MISS_TTL",
    "PROBES",
    "Answer",
    "FoundServer",
    "Miss",
    "Probe",
    "adiscover",
    "aidentify",
    "aprobe_server",
    "base_url_for",
    "cached",
    "candidate_urls",
    "classify",
    "discover",
    "first_server",
    "forget",
    "identify",
    "probe_server",
]

DETECT_TIMEOUT = 2.0
"""The most one probe waits, whatever the client's own ``timeout`` (which caps it too): local
servers answer these routes in milliseconds, and a stuck one must not hold up the program."""
DETECT_BUDGET = 4.0
"""The most one round of all the probes takes (the client's ``timeout`` caps it too), so a
server that hangs on every probe route costs this once, not eight probe timeouts in a row."""
HINT_BUDGET = 0.5
"""The whole budget of the probes behind a hint on a server error: the error is what the user
waits for, so a server that hangs on those routes must not delay it noticeably."""
MISS_TTL = 3.0
"""Seconds a failed detection is remembered for its base URL."""

MissKind = Literal["refused", "warming", "silent", "locked", "unrecognised"]
_START_HINT = (
    "start a server, or pass base_url=... (or set ORBIT_LOCAL_BASE_URL); `orbit-local discover` lists what runs "
    "(to wait for a server that is still starting, raise startup_timeout)"
)
_NAME_IT = "name the server to skip detection (provider='llamacpp', 'lmstudio', ... or 'openai-compatible')"


@dataclass(frozen=True, slots=True)
class Miss:
    """Why a detection found no server it knows at ``url``, and how hard it tried.

    ``kind``: ``refused`` (nothing listens), ``warming`` (the server answers 503 while it
    loads), ``silent`` (it accepted connections but answered no probe in time), ``locked``
    (it wants an API key) or ``unrecognised`` (it answered, but in no known server's shape).
    """

    kind: MissKind
    url: str
    detail: str = ""
    patience: float = 0.0
    """Seconds each probe could wait: a miss found in a hurry does not answer a patient caller."""
    waited: bool = False
    """Whether the warm-up retries ran: a miss found without them does not answer a caller who waits."""
    retry_after: float | None = None

    @property
    def waitable(self) -> bool:
        """A server that is starting: the retry policy may wait for it."""
        return self.kind in ("refused", "warming")

    def error(self) -> OrbitLocalError:
        """The error a client raises for this miss: what happened, and what to do."""
        common: dict[str, Any] = {"provider": "auto-detection", "base_url": self.url}
        if self.kind == "refused":
            return ServerNotRunningError(f"no local server answered at {self.url}", hint=_START_HINT, **common)
        if self.kind == "warming":
            return ServerBusyError(
                f"the server at {self.url} is still starting ({self.detail})",
                hint="wait until it has loaded, or raise warmup_timeout=...; or " + _NAME_IT,
                status_code=503,
                **common,
            )
        if self.kind == "silent":
            return RequestTimeoutError(
                f"the server at {self.url} accepted connections but answered none of the detection probes "
                f"within {self.patience:g} s",
                hint=_NAME_IT + ", or raise timeout=...",
                **common,
            )
        if self.kind == "locked":
            key = get_provider("openai-compatible").env_api_key
            return AuthenticationError(
                f"the server at {self.url} wants an API key ({self.detail})",
                hint=f"pass api_key=... (or set {key})",
                **common,
            )
        return ProtocolError(
            f"the server at {self.url} answered, but not like any server orbit-local knows ({self.detail})",
            hint="check that base_url is the server's API (e.g. http://host:port/v1); or " + _NAME_IT,
            **common,
        )

    def retryable(self) -> OrbitLocalError:
        """This miss as the failure the retry policy judges, as a request's would be: the
        error's class says whether and how long (refused: ``startup_timeout``; loading:
        ``warmup_timeout``), ``retry_after`` what the server asked for."""
        error = self.error()
        if isinstance(error, ServerBusyError):
            error.retry_after = self.retry_after
        return error


# ------------------------------------------------------------------ the cache
_FOUND: dict[str, FoundServer] = {}
_MISSED: dict[str, tuple[float, Miss]] = {}  # base URL -> (expiry on the monotonic clock, miss)
_CACHE_LOCK = threading.Lock()


def _key(url: str) -> str:
    """The whole base URL (origin and path, no trailing slash): what a detection is for."""
    return origin_of(url) + path_of(url)


def cached(url: str) -> FoundServer | None:
    """What an earlier detection found at this base URL (no I/O)."""
    return _FOUND.get(_key(url))


def _recent_miss(url: str, patience: float, waits: bool) -> Miss | None:
    """A failure seen at ``url`` moments ago by a caller at least as patient as this one."""
    with _CACHE_LOCK:
        entry = _MISSED.get(_key(url))
    if entry is None or entry[0] <= time.monotonic():
        return None
    miss = entry[1]
    return miss if miss.patience >= patience and (miss.waited or not waits) else None


def forget() -> None:
    """Drop every cached detection (a server was swapped for another on the same port)."""
    with _CACHE_LOCK:
        _FOUND.clear()
        _MISSED.clear()


def _remember(url: str, outcome: FoundServer | Miss) -> FoundServer | Miss:
    key = _key(url)
    with _CACHE_LOCK:
        if isinstance(outcome, FoundServer):
            _FOUND[key] = outcome
            _MISSED.pop(key, None)
        else:  # what runs there now: nothing we know
            _FOUND.pop(key, None)
            _MISSED[key] = (time.monotonic() + MISS_TTL, outcome)
    return outcome


# ------------------------------------------------------- one detection, no I/O
@dataclass(frozen=True, slots=True)
class _Round:
    """Send every probe: each may wait ``timeout``, all of them together ``budget``."""

    timeout: float
    budget: float


@dataclass(frozen=True, slots=True)
class _Pause:
    """Wait before the next round (the server is starting)."""

    seconds: float


_Replies = tuple[dict[str, Answer], bool]  # the answers by probe name, and whether a connection was refused
_Steps = Generator[_Round | _Pause, _Replies | None, FoundServer | Miss]


def _described(answers: dict[str, Answer], url: str) -> str:
    """The answers that say something (not a 404, nor silence), and the model list's always."""
    parts = [
        f"GET {probe_url(url, probe).removeprefix(origin_of(url))} {answers[probe.name].described}"
        for probe in PROBES
        if probe.name in answers and (probe.name == "models" or answers[probe.name].status not in (None, 404))
    ]
    return ", ".join(parts) or "no probe answered"


def _verdict(url: str, answers: dict[str, Answer], refused: bool, patience: float, waited: bool) -> FoundServer | Miss:
    """What one round of answers says about the server at ``url`` (pure)."""
    miss: dict[str, Any] = {"url": url, "patience": patience, "waited": waited}
    if refused:
        return Miss("refused", **miss)
    decided = classify(origin_of(url), answers)
    if decided is not None:
        profile, evidence, version = decided
        return FoundServer(profile, base_url_for(profile, url), model_ids(answers.get("models", Answer(None))),
                           version, evidence)  # fmt: skip
    statuses = {a.status for a in answers.values()}
    if statuses <= {None}:
        return Miss("silent", **miss)
    loading = [a for a in answers.values() if a.status == 503]  # busy or loading, as a request's 503
    if loading:
        waits = [a.retry_after for a in loading if a.retry_after is not None]
        return Miss("warming", detail=_described(answers, url), retry_after=max(waits, default=None), **miss)
    if statuses & {401, 403}:
        return Miss("locked", detail=_described(answers, url), **miss)
    return Miss("unrecognised", detail=_described(answers, url), **miss)


def _detection(url: str, timeout: float, budget: float, retry: RetryPolicy | None) -> _Steps:
    """The plan of one detection, shared by both twins: rounds of probes, and while the server
    is starting (refused connections, 503s) the waits the retry policy allows between them."""
    state = retry.begin() if retry is not None else None
    while True:
        replies = yield _Round(timeout, budget)
        assert replies is not None
        outcome = _verdict(url, *replies, patience=min(timeout, budget), waited=state is not None)
        if isinstance(outcome, FoundServer) or state is None or not outcome.waitable:
            return outcome
        step = state.next_delay(outcome.retryable())
        if step is None:
            return outcome
        delay, remaining = step
        logger.info(
            "auto-detection at %s: %s; probing again in %.1f s (%.0f s of the warm-up window left)",
            url,
            outcome.error().message,
            delay,
            remaining,
        )
        yield _Pause(delay)


# ------------------------------------------------------------------------ I/O
def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None


def _answer(response: httpx.Response) -> Answer:
    try:
        decoded: Any = json.loads(response.content) if response.content.strip() else None
    except ValueError:
        decoded = response.text
    return Answer(response.status_code, decoded, _retry_after(response))


def _headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def _send_round(http: httpx.Client, url: str, api_key: str | None, step: _Round) -> _Replies:
    """The probes in turn (so a recording replays them in order), within the round's budget;
    a refused connection ends the round: nothing listens."""
    started = time.monotonic()
    answers: dict[str, Answer] = {}
    for probe in PROBES:
        left = min(step.timeout, step.budget - (time.monotonic() - started))
        if left <= 0:
            answers[probe.name] = Answer(None)  # the budget is spent: no answer
            continue
        try:
            answers[probe.name] = _answer(http.get(probe_url(url, probe), headers=_headers(api_key), timeout=left))
        except httpx.ConnectError:
            return answers, True
        except httpx.HTTPError:
            answers[probe.name] = Answer(None)
    return answers, False


async def _asend_round(http: httpx.AsyncClient, url: str, api_key: str | None, step: _Round) -> _Replies:
    """The probes together, so one round takes one probe's time at most."""
    timeout = min(step.timeout, step.budget)

    async def one(probe: Probe) -> Answer | None:
        try:
            return _answer(await http.get(probe_url(url, probe), headers=_headers(api_key), timeout=timeout))
        except httpx.ConnectError:
            return None
        except httpx.HTTPError:
            return Answer(None)

    results = await asyncio.gather(*(one(p) for p in PROBES))
    answers = {probe.name: result for probe, result in zip(PROBES, results, strict=True) if result is not None}
    return answers, any(result is None for result in results)


def _known(url: str, timeout: float, budget: float, retry: RetryPolicy | None) -> FoundServer | Miss | None:
    """What an earlier detection of ``url`` answers this caller with (both twins): a server
    found, or a miss seen moments ago by a caller at least as patient; ``None``: probe."""
    return cached(url) or _recent_miss(url, min(timeout, budget), retry is not None)


def probe_server(
    url: str,
    *,
    api_key: str | None = None,
    timeout: float = DETECT_TIMEOUT,
    budget: float | None = None,
    client: httpx.Client | None = None,
    refresh: bool = False,
    retry: RetryPolicy | None = None,
) -> FoundServer | Miss:
    """Which server answers at ``url``, or why none was recognised (cached per base URL).

    Args:
        timeout: the most one probe waits.
        budget: the most one round of probes takes (default: twice ``timeout``).
        refresh: probe even if an earlier detection is cached.
        retry: wait for a server that is starting, as this policy waits for a request;
            ``None`` probes once.
    """
    budget = 2 * timeout if budget is None else budget
    known = None if refresh else _known(url, timeout, budget, retry)
    if known is not None:
        return known
    steps = _detection(url, timeout, budget, retry)
    http = client or httpx.Client(timeout=timeout)
    reply: _Replies | None = None
    try:
        while True:
            step = steps.send(reply)
            if isinstance(step, _Pause):
                time.sleep(step.seconds)
                reply = None
            else:
                reply = _send_round(http, url, api_key, step)
    except StopIteration as done:
        outcome: FoundServer | Miss = done.value
    finally:
        if client is None:
            http.close()
    return _remember(url, outcome)


async def aprobe_server(
    url: str,
    *,
    api_key: str | None = None,
    timeout: float = DETECT_TIMEOUT,
    budget: float | None = None,
    client: httpx.AsyncClient | None = None,
    refresh: bool = False,
    retry: RetryPolicy | None = None,
) -> FoundServer | Miss:
    """Async twin of :func:`probe_server`; the probes of a round run concurrently."""
    budget = 2 * timeout if budget is None else budget
    known = None if refresh else _known(url, timeout, budget, retry)
    if known is not None:
        return known
    steps = _detection(url, timeout, budget, retry)
    http = client or httpx.AsyncClient(timeout=timeout)
    reply: _Replies | None = None
    try:
        while True:
            step = steps.send(reply)
            if isinstance(step, _Pause):
                await asyncio.sleep(step.seconds)
                reply = None
            else:
                reply = await _asend_round(http, url, api_key, step)
    except StopIteration as done:
        outcome: FoundServer | Miss = done.value
    finally:
        if client is None:
            await http.aclose()
    return _remember(url, outcome)


def identify(
    url: str,
    *,
    api_key: str | None = None,
    timeout: float = DETECT_TIMEOUT,
    client: httpx.Client | None = None,
    refresh: bool = False,
) -> FoundServer | None:
    """Which server answers at ``url`` (cached per base URL); ``None`` when none is recognised.

    Every probe is sent, in order, so a recorded session replays the same requests; when one
    cannot connect, nothing listens and the rest are skipped.
    """
    outcome = probe_server(url, api_key=api_key, timeout=timeout, client=client, refresh=refresh)
    return outcome if isinstance(outcome, FoundServer) else None


async def aidentify(
    url: str,
    *,
    api_key: str | None = None,
    timeout: float = DETECT_TIMEOUT,
    client: httpx.AsyncClient | None = None,
    refresh: bool = False,
) -> FoundServer | None:
    """Async twin of :func:`identify`; the probes run concurrently."""
    outcome = await aprobe_server(url, api_key=api_key, timeout=timeout, client=client, refresh=refresh)
    return outcome if isinstance(outcome, FoundServer) else None


def candidate_urls(profiles: list[ProviderProfile] | None = None) -> list[str]:
    """Each profile's base URL (``<PREFIX>BASE_URL`` wins over its default), one per origin."""
    urls: dict[str, str] = {}
    for profile in profiles if profiles is not None else list_providers():
        try:
            url = profile.resolve_base_url()
        except ValueError:
            continue
        urls.setdefault(origin_of(url), url)
    return list(urls.values())


async def adiscover(
    timeout: float = 1.0, profiles: list[ProviderProfile] | None = None, urls: list[str] | None = None
) -> list[FoundServer]:
    """Every server answering on the profiles' default ports (or ``urls``), concurrently."""
    targets = urls if urls is not None else candidate_urls(profiles)
    async with httpx.AsyncClient(timeout=timeout) as http:
        found = await asyncio.gather(*(aidentify(url, timeout=timeout, client=http, refresh=True) for url in targets))
    return [server for server in found if server is not None]


def discover(
    timeout: float = 1.0, profiles: list[ProviderProfile] | None = None, urls: list[str] | None = None
) -> list[FoundServer]:
    """Synchronous wrapper of :func:`adiscover` (for scripts and the command line)."""
    return asyncio.run(adiscover(timeout, profiles, urls))


def first_server(timeout: float = 1.0) -> FoundServer | None:
    """The first server answering on a default port, probed one origin after another.

    Used where no event loop may be started (a synchronous client built inside async code);
    a closed port refuses at once, so trying them in turn costs little.
    """
    for url in candidate_urls():
        found = identify(url, timeout=timeout, refresh=True)
        if found is not None:
            return found
    return None

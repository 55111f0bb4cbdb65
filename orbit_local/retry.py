"""The one retry policy: which failures are tried again, how long to wait, when to stop.

Local servers load a model on the first request, refuse connections while they start, and
answer 503 while busy (KoboldCpp serves one generation at a time). Those failures, and only
those, are retried with exponential back-off (0.5 s doubling to 4 s, or longer where the
server's ``Retry-After`` asks) while the warm-up window lasts and ``max_retries`` allows.
Both transports ask the same :class:`RetryPolicy`; each only sleeps its own way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from orbit_local.errors import OrbitLocalError

DEFAULT_MAX_RETRIES = 10
"""How many times a refused connection or a 503 is retried. With the back-off below (0.5 s
doubling to 4 s) ten retries span 35.5 s, so by default ``warmup_timeout`` ends the warm-up,
as its name promises; 0 turns retrying off."""
DEFAULT_WARMUP_TIMEOUT = 30.0
"""Seconds, from the first attempt, during which those retries may happen."""
RETRY_STATUSES = frozenset({503})
BACKOFF_START = 0.5
BACKOFF_CAP = 4.0


class Retryable(Exception):
    """A failure the policy may retry: the error to raise if it does not, and how long the
    server asked to wait (``Retry-After``), if it did."""

    def __init__(self, error: OrbitLocalError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    """How often (``max_retries``) and how long (``warmup_timeout`` seconds from the first
    attempt) the retryable failures are tried again."""

    max_retries: int = DEFAULT_MAX_RETRIES
    warmup_timeout: float = DEFAULT_WARMUP_TIMEOUT

    def begin(self) -> RetryState:
        """The state of one request's attempts, its clock started now."""
        return RetryState(self, time.monotonic())


@dataclass
class RetryState:
    """One request's attempts so far, and when the first began."""

    policy: RetryPolicy
    started: float
    attempt: int = 0

    def next_delay(self, failure: Retryable) -> tuple[float, float] | None:
        """``(seconds to wait, seconds of the window left)`` before the next attempt, or
        ``None`` when the policy gives up."""
        if self.attempt >= self.policy.max_retries:
            return None
        remaining = self.policy.warmup_timeout - (time.monotonic() - self.started)
        if remaining <= 0:
            return None
        delay = min(BACKOFF_START * 2.0**self.attempt, BACKOFF_CAP)
        if failure.retry_after is not None:
            delay = max(delay, failure.retry_after)
        self.attempt += 1
        return min(delay, remaining), remaining

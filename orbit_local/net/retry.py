"""The one retry policy: which failures are tried again, how long to wait, when to stop.

*Whether* a failure may pass if the request is sent again is the error's own ``is_retryable``
(:mod:`orbit_local.facts.errors`), the same verdict LangChain's retry helpers read; this module only
adds *how long* each kind is worth waiting for, counted from the first attempt:

- a server that answers "busy" or "loading model" (503): ``warmup_timeout`` (30 s) — it is
  there and will answer;
- a rate limit (429): :data:`RATE_LIMIT_BUDGET` (5 s); a ``Retry-After`` that does not fit is
  raised at once, not slept through;
- anything else retryable — nothing listening, a dropped connection, a timeout:
  ``startup_timeout`` (2 s), enough for a server that restarts, short enough that a server
  that is simply not running is reported at once. Raise it to wait for a server you are
  starting right now.

Waits back off exponentially (0.5 s doubling to 4 s, or longer where ``Retry-After`` asks);
``max_retries`` caps the count. Both transports ask the same :class:`RetryPolicy` and only
sleep their own way; a stream is retried only before it yielded anything (the transports
retry opening it, never reading it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from orbit_local.facts.errors import OrbitLocalError, RateLimitError, ServerBusyError

DEFAULT_TIMEOUT = 120.0
"""Read timeout of one request, in seconds: a long answer from a slow local model fits."""
DEFAULT_MAX_RETRIES = 10
"""How many times a retryable failure is retried at most; the time windows below usually end
the retrying first. 0 turns retrying off."""
DEFAULT_WARMUP_TIMEOUT = 30.0
"""Seconds, from the first attempt, during which a busy or loading server is waited for."""
DEFAULT_STARTUP_TIMEOUT = 2.0
"""Seconds, from the first attempt, during which a refused or dropped connection (or a timeout)
is retried: a server restarting comes back within it; one that is not running is reported
after it, not after the 30 s warm-up as before."""
RATE_LIMIT_BUDGET = 5.0
"""Seconds, from the first attempt, that 429 answers are waited out (``Retry-After`` included)."""
BACKOFF_START = 0.5
BACKOFF_CAP = 4.0


@dataclass(frozen=True)
class RetryPolicy:
    """How often (``max_retries``) and how long (a window per kind of failure, from the first
    attempt) retryable failures are tried again."""

    max_retries: int = DEFAULT_MAX_RETRIES
    warmup_timeout: float = DEFAULT_WARMUP_TIMEOUT
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT
    clock: Callable[[], float] | None = field(default=None, compare=False, repr=False)
    """Where time comes from; ``None`` reads ``time.monotonic`` at each call (a test may pass,
    or patch in, a fake clock to check the windows without sleeping)."""

    def now(self) -> float:
        return self.clock() if self.clock is not None else time.monotonic()

    def window(self, error: OrbitLocalError) -> float:
        """Seconds from the first attempt during which ``error`` may be retried (0: never)."""
        if not error.is_retryable:
            return 0.0
        if isinstance(error, RateLimitError):
            return min(RATE_LIMIT_BUDGET, self.warmup_timeout)
        if isinstance(error, ServerBusyError):
            return self.warmup_timeout
        return self.startup_timeout

    def begin(self) -> RetryState:
        """The state of one request's attempts, its clock started now."""
        return RetryState(self, self.now())


@dataclass
class RetryState:
    """One request's attempts so far, and when the first began."""

    policy: RetryPolicy
    started: float
    attempt: int = 0

    def next_delay(self, error: OrbitLocalError) -> tuple[float, float] | None:
        """``(seconds to wait, seconds of the window left)`` before the next attempt, or
        ``None`` when the policy gives up (the caller then raises ``error``)."""
        if self.attempt >= self.policy.max_retries:
            return None
        remaining = self.policy.window(error) - (self.policy.now() - self.started)
        if remaining <= 0:
            return None
        delay = min(BACKOFF_START * 2.0**self.attempt, BACKOFF_CAP)
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            if retry_after > remaining:
                return None  # the server asks for longer than we may wait: say so now
            delay = max(delay, retry_after)
        self.attempt += 1
        return min(delay, remaining), remaining

"""The retry policy's arithmetic (orbit_local/retry.py) on a fake clock: the back-off doubles
from 0.5 s to 4 s, and a ``Retry-After`` that fits the window exactly is waited, not refused.

The module promises: "Waits back off exponentially (0.5 s doubling to 4 s, or longer where
``Retry-After`` asks)" and "a ``Retry-After`` that does not fit is raised at once".
"""

from __future__ import annotations

from orbit_local import errors as ol
from orbit_local.retry import RATE_LIMIT_BUDGET, RetryPolicy


def test_the_back_off_doubles_from_half_a_second_to_four() -> None:
    policy = RetryPolicy(clock=lambda: 0.0)  # no time passes: only the back-off decides
    state = policy.begin()
    delays = []
    for _ in range(6):
        step = state.next_delay(ol.ServerBusyError("loading"))
        assert step is not None
        delays.append(step[0])
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_a_retry_after_that_fills_the_window_exactly_is_waited() -> None:
    policy = RetryPolicy(clock=lambda: 0.0)
    state = policy.begin()
    step = state.next_delay(ol.RateLimitError("429", retry_after=RATE_LIMIT_BUDGET))
    assert step == (RATE_LIMIT_BUDGET, RATE_LIMIT_BUDGET)
    # a moment longer does not fit: raised at once
    assert policy.begin().next_delay(ol.RateLimitError("429", retry_after=RATE_LIMIT_BUDGET + 0.5)) is None

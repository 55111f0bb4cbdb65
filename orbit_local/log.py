"""The ``orbit_local`` logger: what the library did on the user's behalf.

Retries (and their waits), aborted generations, emulated streams and parameters that were
downgraded or not sent are logged at INFO, so a 30-second warm-up never passes without a
trace once logging is on. Messages name servers and URLs, never keys or headers.
"""

from __future__ import annotations

import logging
import warnings

logger = logging.getLogger("orbit_local")


def warn(message: str, category: type[Warning] = UserWarning, stacklevel: int = 2) -> None:
    """Warn the caller and log the same line (a warning shows once; the log keeps every one)."""
    logger.info(message)
    warnings.warn(message, category, stacklevel=stacklevel + 1)

"""The rate limiter: sliding-window grants shared by every worker of a broker.

A task with ``rate_limit=`` needs it; the worker checks for it when it starts.
"""

from __future__ import annotations

import abc

from taskq_core.capabilities.base import Capability


class RateLimiter(Capability):
    """Capability: a limiter of grants per period, shared by every process using the broker."""

    offers = "a rate limiter"

    @abc.abstractmethod
    def acquire_rate_limit(self, key: str, *, limit: int, period: float) -> float:
        """Take one grant of the limiter ``key``, or say how long until one is possible.

        A sliding window over broker time: the grant is recorded and ``0.0`` returned when fewer
        than ``limit`` grants were made in the last ``period`` seconds; otherwise nothing is
        recorded and the seconds until the oldest grant in the window leaves it are returned
        (always > 0). Shared by every process using the broker, so ``limit`` holds across all
        workers together.
        """

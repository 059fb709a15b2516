"""Rate-limit grants: one sliding-window log of grant times per limiter key.

The broker calls :class:`GrantLogs` under its one lock and passes ``now`` (broker time), so a grant
is one atomic check-and-record however many worker threads ask at once.
"""

from __future__ import annotations

from collections import deque


class GrantLogs:
    """The grant times of every limiter key, oldest first, trimmed to the current window."""

    def __init__(self) -> None:
        self._grants: dict[str, deque[float]] = {}

    def acquire(self, key: str, *, limit: int, period: float, now: float) -> float:
        """Record a grant and return ``0.0``, or return how long until one is possible.

        The window at ``now`` is ``(now - period, now]``. A refusal records nothing and returns
        the time until the grant that must leave for one to fit does leave: the oldest in the
        window whenever ``limit`` is the same on every call.

        Raises:
            ValueError: ``limit`` below 1 or ``period`` not positive (no grant could ever fit).
        """
        if limit < 1 or period <= 0:
            raise ValueError(f"a rate limit needs limit >= 1 and period > 0, got {limit}/{period}s")
        grants = self._grants.setdefault(key, deque())
        while grants and grants[0] <= now - period:
            grants.popleft()
        if len(grants) < limit:
            grants.append(now)
            return 0.0
        return grants[-limit] + period - now

"""Per-minute outcome counters of one queue, bounded like the Redis backend's history hash."""

from __future__ import annotations

from typing import Literal

from taskq_core.schemas import HISTORY_MINUTES, MinuteCounts, minutes_window

#: The outcomes a minute counts, in :class:`~taskq_core.schemas.MinuteCounts`' field names.
Outcome = Literal["succeeded", "failed", "retried", "expired", "revoked"]


class MinuteCounters:
    """Outcomes per minute of broker time; minutes older than ``HISTORY_MINUTES`` are dropped.

    The caller holds the broker's lock, so each count is atomic with its state change.
    """

    def __init__(self) -> None:
        self._minutes: dict[int, dict[Outcome, int]] = {}

    def count(self, outcome: Outcome, now: float, n: int = 1) -> None:
        """Add ``n`` outcomes to the minute of ``now``, dropping minutes that fell out."""
        minute = int(now // 60)
        counts = self._minutes.setdefault(minute, {})
        counts[outcome] = counts.get(outcome, 0) + n
        if len(self._minutes) > HISTORY_MINUTES:
            newest = max(self._minutes)
            for old in [m for m in self._minutes if m <= newest - HISTORY_MINUTES]:
                del self._minutes[old]

    def window(self, now: float, minutes: int) -> list[MinuteCounts]:
        """The last ``minutes`` minutes up to the one holding ``now``, oldest first, zero-filled."""
        window = []
        for start in minutes_window(now, minutes):
            counts = self._minutes.get(int(start // 60), {})
            window.append(MinuteCounts(minute=start, **counts))
        return window

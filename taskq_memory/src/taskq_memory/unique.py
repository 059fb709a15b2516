"""Unique-key holds of one memory queue, mirroring ``Q:unique`` and ``Q:unique_until`` on Redis.

:class:`UniqueHolds` does no locking and reads no clock: the broker calls it under its lock and
passes ``now``.
"""

from __future__ import annotations


class UniqueHolds:
    """Unique key -> (holder id, end of the hold); a hold whose end has come is free."""

    def __init__(self) -> None:
        self._holds: dict[str, tuple[str, float]] = {}
        # Size at which ended holds are swept; doubles with the live holds (amortised O(1)).
        self._sweep_at = 1000

    def holder(self, key: str, now: float) -> str | None:
        """The id holding ``key`` at ``now``, or ``None`` (an ended hold is dropped here)."""
        hold = self._holds.get(key)
        if hold is None:
            return None
        if hold[1] <= now:
            del self._holds[key]
            return None
        return hold[0]

    def claim(self, key: str, holder: str, *, now: float, until: float) -> None:
        """Hold ``key`` for ``holder`` until ``until``; the caller checked it was free."""
        self._holds[key] = (holder, until)
        if len(self._holds) > self._sweep_at:
            self._drop_ended(now)
            self._sweep_at = max(1000, 2 * len(self._holds))

    def release(self, key: str, holder: str) -> None:
        """End the hold of ``key`` when ``holder`` still has it (after its end another may)."""
        hold = self._holds.get(key)
        if hold is not None and hold[0] == holder:
            del self._holds[key]

    def _drop_ended(self, now: float) -> None:
        """Forget every hold that ended before ``now`` (bounds memory under many keys)."""
        for key in [k for k, (_, end) in self._holds.items() if end <= now]:
            del self._holds[key]

"""Time, injected.

Every time in the taskq API is float seconds since the Unix epoch; every duration is float
seconds. Brokers and workers take a :class:`Clock` so tests drive time instead of sleeping.
A broker given ``clock=None`` uses its own authority: the process clock for the memory backend,
the server's ``TIME`` for Redis (immune to clock skew between machines).
"""

from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """A source of the current time."""

    def now(self) -> float:
        """Return seconds since the Unix epoch."""
        ...


class SystemClock:
    """The wall clock of this process."""

    def now(self) -> float:
        """Return ``time.time()``."""
        return time.time()


SYSTEM_CLOCK = SystemClock()


class FakeClock:
    """A clock that moves only when told to; thread-safe.

    The conformance suite and unit tests use it to expire leases and reach ETAs instantly.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        """Return the current fake time."""
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move time forward by ``seconds`` and return the new time."""
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, when: float) -> None:
        """Jump to ``when`` (must not be in the past)."""
        with self._lock:
            if when < self._now:
                raise ValueError("a clock does not go backwards")
            self._now = when

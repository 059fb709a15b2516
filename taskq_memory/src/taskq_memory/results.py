"""Task results kept under their message ids until their time to live runs out, and their waiters.

Like :class:`~taskq_memory.queue.MemoryQueue`, :class:`ResultRecords` reads no clock: the broker
calls it under its one lock and passes ``now``. Expiry is measured on the broker's clock (a
:class:`~taskq_core.clock.FakeClock` in tests), so moving that clock past a result's time to live
makes it disappear; waiting is measured in real time, as for a blocking ``reserve``.
"""

from __future__ import annotations

import heapq
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from taskq_core.schemas import TaskResult


class ResultRecords:
    """Results by message id, each with an expiry on the broker's clock.

    Args:
        lock: The broker's lock; every method is called while holding it, and waiters sleep on
            a condition of it, so a result stored under the lock wakes them.
    """

    def __init__(self, lock: threading.Lock) -> None:
        self._stored = threading.Condition(lock)
        self._results: dict[str, tuple[TaskResult, float]] = {}
        # (expires_at, id), so expired results are dropped without scanning every result. An
        # entry whose result was since replaced or forgotten is skipped when it comes up.
        self._expiries: list[tuple[float, str]] = []
        #: Message id -> wake-ups of asyncio waiters (``taskq_memory.aio``), called on put.
        self.wakeups: dict[str, set[Callable[[], None]]] = {}

    def __len__(self) -> int:
        """How many results are held, expired ones not yet dropped included."""
        return len(self._results)

    def put(self, result: TaskResult, *, expires_at: float, now: float) -> None:
        """Keep ``result`` until ``expires_at``, replacing any earlier one; wake every waiter."""
        self._drop_expired(now)
        self._results[result.id] = (result, expires_at)
        heapq.heappush(self._expiries, (expires_at, result.id))
        self._stored.notify_all()
        for wake in self.wakeups.get(result.id, ()):
            wake()

    def get(self, message_id: str, *, now: float) -> TaskResult | None:
        """The result of ``message_id`` unless absent or expired (its expiry at or before now)."""
        stored = self._results.get(message_id)
        if stored is None or stored[1] <= now:
            return None
        return stored[0]

    def wait(
        self, message_id: str, *, timeout: float | None, now: Callable[[], float]
    ) -> TaskResult | None:
        """The result of ``message_id``, sleeping up to ``timeout`` real seconds until it is put.

        ``None`` waits without limit. Every :meth:`put` wakes every waiter (whatever id it waits
        for); each checks its own id again and sleeps on if it is still missing.
        """
        give_up_at = None if timeout is None else time.monotonic() + max(timeout, 0.0)
        while (result := self.get(message_id, now=now())) is None:
            if give_up_at is None:
                self._stored.wait()
                continue
            remaining = give_up_at - time.monotonic()
            if remaining <= 0:
                return None
            self._stored.wait(remaining)
        return result

    def forget(self, message_id: str) -> None:
        """Delete the result of ``message_id``, if any."""
        self._results.pop(message_id, None)

    def _drop_expired(self, now: float) -> None:
        """Free the memory of results that have expired, so a long-lived broker does not grow."""
        while self._expiries and self._expiries[0][0] <= now:
            expires_at, message_id = heapq.heappop(self._expiries)
            stored = self._results.get(message_id)
            if stored is not None and stored[1] == expires_at:
                del self._results[message_id]

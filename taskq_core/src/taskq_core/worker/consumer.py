"""Reserving for a worker: batches sized to its free slots, blocking while idle, with backoff.

The ``threads`` pool's threads call :meth:`Consumer.reserve_batch` in turns (``ThreadPool``);
the ``solo`` and ``processes`` pools run :meth:`Consumer.run` on a consumer thread of its own.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Sequence

    from taskq_core.broker import BaseBroker
    from taskq_core.schemas import Delivery
    from taskq_core.worker.holding import Holdings
    from taskq_core.worker.pools import Pool

log = logging.getLogger("taskq.worker")

#: First and longest pause between reserve attempts while the broker is unreachable.
INITIAL_ERROR_BACKOFF = 0.1
MAX_ERROR_BACKOFF = 5.0


class Consumer:
    """Reserves for one worker.

    Args:
        broker: Where to reserve.
        holdings: What the worker holds (slots, and the deliveries handed out).
        stopping: Set when the worker stops reserving (it reached ``Phase.DRAINING``).
        worker_id: The worker's id (lease owner).
        queues: Gives the queue order of each reserve.
        slots: Gives how many deliveries the worker may hold right now.
        lease: Lease length in seconds.
        block_timeout: Longest single blocking reserve in seconds.
        route: Takes the deliveries of each reserved batch it runs elsewhere (the coroutines
            of ``async def`` tasks, see ``coroutines.py``) and gives back those for the pool.
    """

    def __init__(
        self,
        broker: BaseBroker,
        holdings: Holdings,
        stopping: threading.Event,
        *,
        worker_id: str,
        queues: Callable[[], Sequence[str]],
        slots: Callable[[], int],
        lease: float,
        block_timeout: float,
        route: Callable[[list[Delivery]], list[Delivery] | None] | None = None,
    ) -> None:
        self._broker = broker
        self._holdings = holdings
        self._stopping = stopping
        self._worker_id = worker_id
        self._queues = queues
        self._slots = slots
        self._lease = lease
        self._block_timeout = block_timeout
        self._backoff = INITIAL_ERROR_BACKOFF
        self._route = route

    def run(self, pool: Pool) -> None:
        """The consumer thread of the solo and processes pools: reserve, submit, repeat."""
        while (deliveries := self.reserve_batch()) is not None:
            for index, delivery in enumerate(deliveries):
                if self._stopping.is_set():
                    self.release(deliveries[index:])
                    break
                pool.submit(delivery)

    def reserve_batch(self) -> list[Delivery] | None:
        """Reserve for the free slots, blocking while idle; ``None`` once stopping.

        The deliveries are held when returned. Reserved as the worker stops, they are released
        back to READY instead.
        """
        holdings, stopping = self._holdings, self._stopping
        if not holdings.begin_reserve(stopping):
            return None
        try:
            while not stopping.is_set():
                free = holdings.wait_for_room(self._slots(), stopping)
                if not free:
                    break
                try:
                    deliveries = self._broker.reserve(
                        self._queues(),
                        worker_id=self._worker_id,
                        lease=self._lease,
                        limit=free,
                        timeout=self._block_timeout,
                    )
                except Exception as exc:
                    log.warning("reserve failed: %s; retrying in %.1fs", exc, self._backoff)
                    stopping.wait(self._backoff)
                    self._backoff = min(self._backoff * 2, MAX_ERROR_BACKOFF)
                    continue
                self._backoff = INITIAL_ERROR_BACKOFF
                if not deliveries:
                    continue
                holdings.hold(deliveries)
                if stopping.is_set():
                    self.release(deliveries)
                    break
                if self._route is not None:
                    return self._route(deliveries)
                return deliveries
            return None
        finally:
            holdings.end_reserve()

    def release(self, deliveries: list[Delivery]) -> None:
        """Give unstarted deliveries back to READY (graceful shutdown) and stop holding them."""
        if not deliveries:
            return
        try:
            released = self._broker.release(deliveries)
            log.info("released %d prefetched deliveries back to READY", released)
        except Exception as exc:
            log.warning(
                "could not release prefetched deliveries (%s); leases will return them", exc
            )
        self._holdings.drop(deliveries)

"""Worker liveness for the memory backend: who heartbeat when, overall and per queue.

Kept per queue as well as overall because the contract is per queue: ``expire_dead_workers``
declares a worker dead in the queue being reaped, and ``list_alive_workers(queue=...)`` lists the
consumers of one queue. The overall record answers ``queue=None`` with each worker once.
Not thread-safe on its own: :class:`~taskq_memory.broker.MemoryBroker` calls it under its lock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from taskq_core.schemas import WorkerInfo


class Heartbeats:
    """The latest heartbeat of every worker, and what it said about itself."""

    def __init__(self) -> None:
        self._workers: dict[str, tuple[WorkerInfo, float]] = {}
        self._by_queue: dict[str, dict[str, float]] = {}

    def beat(self, worker: WorkerInfo, now: float) -> None:
        """Record ``worker`` as seen at ``now``, overall and in each of its queues."""
        self._workers[worker.worker_id] = (worker, now)
        for queue in worker.queues:
            self._by_queue.setdefault(queue, {})[worker.worker_id] = now

    def alive(self, *, now: float, within: float, queue: str | None) -> list[WorkerInfo]:
        """Workers seen at most ``within`` seconds before ``now``, sorted by id."""
        if queue is None:
            seen = {worker_id: last for worker_id, (_, last) in self._workers.items()}
        else:
            seen = self._by_queue.get(queue, {})
        return [
            self._workers[worker_id][0].model_copy(update={"last_seen": last})
            for worker_id, last in sorted(seen.items())
            if now - last <= within and worker_id in self._workers
        ]

    def forget(self, worker_id: str) -> None:
        """Drop every record of ``worker_id``."""
        self._workers.pop(worker_id, None)
        for workers in self._by_queue.values():
            workers.pop(worker_id, None)

    def expire(self, queue: str, *, now: float, within: float) -> list[str]:
        """Remove from ``queue`` the workers silent for more than ``within`` s; return their ids.

        A worker still recorded in another queue keeps its overall record until that queue's
        reaper expires it too.
        """
        workers = self._by_queue.get(queue, {})
        silent = sorted(worker_id for worker_id, last in workers.items() if now - last > within)
        for worker_id in silent:
            del workers[worker_id]
            if not any(worker_id in others for others in self._by_queue.values()):
                self._workers.pop(worker_id, None)
        return silent

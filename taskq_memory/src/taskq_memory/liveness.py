"""Worker liveness for the memory backend: who heartbeat when, overall and per queue.

Kept per queue as well as overall because the contract is per queue: ``expire_dead_workers``
declares a worker dead in the queue being reaped, and ``list_alive_workers(queue=...)`` lists the
consumers of one queue. The overall record answers ``queue=None`` with each worker once.
Not thread-safe on its own: :class:`~taskq_memory.broker.MemoryBroker` calls it under its lock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskq_core.capabilities.liveness import heartbeat_gap

if TYPE_CHECKING:
    from taskq_core.schemas import WorkerInfo


class Heartbeats:
    """The latest heartbeat of every worker, and what it said about itself."""

    def __init__(self) -> None:
        self._workers: dict[str, tuple[WorkerInfo, float]] = {}
        self._by_queue: dict[str, dict[str, float]] = {}
        #: queue -> worker id -> start of its current stretch of heartbeats in that queue.
        self._since: dict[str, dict[str, float]] = {}

    def beat(self, worker: WorkerInfo, now: float) -> None:
        """Record ``worker`` as seen at ``now``, overall and in each of its queues.

        A first heartbeat, or one after a gap longer than ``heartbeat_gap(worker)``, starts a
        new stretch (``expire_dead_workers``), as ``heartbeat.lua`` does.
        """
        gap = heartbeat_gap(worker)
        self._workers[worker.worker_id] = (worker, now)
        for queue in worker.queues:
            seen = self._by_queue.setdefault(queue, {})
            since = self._since.setdefault(queue, {})
            previous = seen.get(worker.worker_id)
            if previous is None or (gap is not None and now - previous > gap):
                since[worker.worker_id] = now
            else:
                since.setdefault(worker.worker_id, now)
            seen[worker.worker_id] = now

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
        for workers in (*self._by_queue.values(), *self._since.values()):
            workers.pop(worker_id, None)

    def expire(
        self, queue: str, *, now: float, within: float, reaper: str | None = None
    ) -> list[str]:
        """Remove from ``queue`` the workers silent for more than ``within`` s; return their ids.

        With a ``reaper``, nobody unless the reaper watched the whole silence (its heartbeat at
        most ``within / 2`` old, its stretch at least ``within`` long), as the contract says.
        A worker still recorded in another queue keeps its overall record until that queue's
        reaper expires it too.
        """
        workers = self._by_queue.get(queue, {})
        since = self._since.get(queue, {})
        if reaper is not None:
            seen, began = workers.get(reaper), since.get(reaper)
            if seen is None or began is None or now - seen > within / 2 or began > now - within:
                return []
        silent = sorted(worker_id for worker_id, last in workers.items() if now - last > within)
        for worker_id in silent:
            del workers[worker_id]
            since.pop(worker_id, None)
            if not any(worker_id in others for others in self._by_queue.values()):
                self._workers.pop(worker_id, None)
        return silent

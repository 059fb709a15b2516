"""The worker registry: heartbeats, the list of live workers, and declaring silent ones dead.

A worker heartbeats into it and its reaper expires the leases of workers that went silent, so a
crashed worker's messages come back before their leases run out. Without it a lost worker's
messages come back when their leases expire (``recover_expired``), and ``taskq status`` and the
dashboard list no workers.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING

from taskq_core.capabilities.base import Capability

if TYPE_CHECKING:
    from taskq_core.schemas import WorkerInfo

#: A heartbeat that comes more than this many of the worker's heartbeat intervals after its
#: previous one starts a new stretch of heartbeats (see ``expire_dead_workers``): between the
#: two, the worker, or the broker, was out.
HEARTBEAT_GAP_FACTOR = 1.5


def heartbeat_gap(worker: WorkerInfo) -> float | None:
    """The longest gap between two heartbeats of ``worker`` within one stretch, in seconds.

    ``None`` when the worker did not say its heartbeat interval: its stretch then starts at its
    first heartbeat and is never broken.
    """
    if worker.heartbeat_interval <= 0:
        return None
    return worker.heartbeat_interval * HEARTBEAT_GAP_FACTOR


class WorkerRegistry(Capability):
    """Capability: which workers are alive, and expiring the leases of those that went silent."""

    offers = "a worker registry (heartbeats)"

    @abc.abstractmethod
    def send_heartbeat(self, worker: WorkerInfo) -> None:
        """Record that ``worker`` is alive now, in every queue of ``worker.queues``."""

    @abc.abstractmethod
    def list_alive_workers(self, *, within: float, queue: str | None = None) -> list[WorkerInfo]:
        """Workers whose last heartbeat is at most ``within`` seconds old, ``last_seen`` filled in.

        ``queue=None`` means every queue known from messages or heartbeats; each worker appears
        once.
        """

    @abc.abstractmethod
    def forget_worker(self, worker: WorkerInfo) -> None:
        """Remove ``worker`` from the liveness records (clean shutdown)."""

    @abc.abstractmethod
    def expire_dead_workers(
        self, queue: str, *, within: float, reaper: str | None = None
    ) -> list[str]:
        """Declare dead the workers silent for more than ``within`` seconds and expire their leases.

        Every PROCESSING message such a worker holds gets a lease deadline of now, so the next
        :meth:`recover_expired` hands it back (one code path for every loss, so crash counting
        stays consistent). Returns the ids of the workers removed.

        ``reaper`` is the id of the worker calling (a worker's reaper always passes it). Then
        nobody is declared dead unless that reaper watched the whole silence: its own last
        heartbeat in ``queue`` is at most ``within / 2`` old, and its current stretch of
        heartbeats began at least ``within`` ago. A stretch starts with a worker's first
        heartbeat and again after any gap longer than :func:`heartbeat_gap`. A broker outage
        (a restart, a partition, a frozen server) silences every worker, the reaper too, so
        the workers it silenced are never declared dead for it: each has ``within`` seconds
        after the reaper's stretch begins to heartbeat again, and only a lease that runs out
        during a longer outage hands a message out again. Atomic with the expiry, so any number
        of reapers may call it at once.
        """

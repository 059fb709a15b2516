"""A worker loop that drains a queue across a disruption: before it, during it and after it.

For the Cluster and Sentinel tests: a failover or a slot migration happens while a worker
reserves and acks, and the test checks that every accepted task completed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from taskq_redis import RedisBroker

#: Longest a drain (or one of its stages) may take.
DRAIN_SECONDS = 120.0


@dataclass
class Drain:
    """What a drain did: the ids it acked and the errors it met (and retried past)."""

    acked: set[str] = field(default_factory=set)
    errors: list[BaseException] = field(default_factory=list)

    def missing(self, sent: Collection[str]) -> str:
        """A failure message naming how many of ``sent`` never completed, and the errors."""
        return f"{len(set(sent) - self.acked)} never completed; errors: {self.errors[:3]}"


def drain_across(
    broker: RedisBroker,
    queue: str,
    sent: set[str],
    disrupt: Callable[[], None],
    *,
    lease: float = 2.0,
) -> Drain:
    """Drain ``queue`` in a thread, a few messages at a time, while ``disrupt()`` runs.

    A quarter of ``sent`` is acked before ``disrupt()`` starts, up to a half while it runs, and
    the rest after it returns; ``sent`` may grow inside ``disrupt()`` (sends after a failover).
    The worker recovers expired leases as a reaper would and goes on after errors, as a worker
    logs and retries them. An ack the disruption fenced out (lease lost) runs again.
    """
    drain = Drain()
    quarter, started, ended, done = (threading.Event() for _ in range(4))

    def work() -> None:
        deadline = time.monotonic() + DRAIN_SECONDS
        while drain.acked != sent and time.monotonic() < deadline:
            if len(drain.acked) >= len(sent) // 4:
                quarter.set()
                started.wait(DRAIN_SECONDS)
            if len(drain.acked) >= len(sent) // 2:
                ended.wait(DRAIN_SECONDS)
            try:
                broker.recover_expired(queue)
                for delivery in broker.reserve(
                    [queue], worker_id="w", lease=lease, limit=5, timeout=0.5
                ):
                    broker.ack(delivery)
                    drain.acked.add(delivery.id)
            except Exception as exc:  # what a worker logs and retries
                drain.errors.append(exc)
        done.set()

    threading.Thread(target=work, daemon=True).start()
    assert quarter.wait(DRAIN_SECONDS), "the drain never got a quarter of the way"
    started.set()
    try:
        disrupt()
    finally:
        ended.set()
    assert done.wait(DRAIN_SECONDS), "the drain did not finish"
    return drain

"""Run an app's queues until nothing is left: the engine of ``app.run_until_idle()``.

Made for tests. Deliveries run one at a time on the calling thread, through the same
``DeliveryRunner`` as a worker's (acking each success at once), so retries, DEAD, results and
hooks behave as in production; there are no threads to wait for and nothing to stop
afterwards. When only SCHEDULED messages are left (countdowns, ETAs, retry backoff, rate-limit
postponements), a broker on a :class:`~taskq_core.clock.FakeClock` has its clock set to the
earliest ETA, so a test jumps over an hour of backoff at once; on a real clock the drain waits
for it.
"""

from __future__ import annotations

import collections
import os
import uuid
from typing import TYPE_CHECKING

from taskq_core.broker import as_queue_list
from taskq_core.clock import FakeClock
from taskq_core.errors import TaskqError
from taskq_core.worker.holding import Holdings
from taskq_core.worker.queues import parse_queue_specs
from taskq_core.worker.runner import DeliveryRunner

if TYPE_CHECKING:
    from collections.abc import Sequence

    from taskq_core.app import Taskq
    from taskq_core.broker import BaseBroker

__all__ = ["DEFAULT_MAX_TASKS", "DrainLimitExceeded", "run_until_idle"]

#: Most deliveries one drain runs before it gives up: a task that re-sends itself forever
#: fails the test instead of hanging it.
DEFAULT_MAX_TASKS = 10_000
#: Lease of a drained delivery in seconds (it runs at once, on the calling thread).
DRAIN_LEASE = 300.0
#: Longest single wait for a real-time ETA, in seconds; the loop then checks again.
DRAIN_WAIT_MAX = 5.0


class DrainLimitExceeded(TaskqError):
    """``run_until_idle`` ran ``max_tasks`` deliveries and work was still arriving."""


def run_until_idle(
    app: Taskq,
    *,
    queues: str | Sequence[str] | None = None,
    max_tasks: int = DEFAULT_MAX_TASKS,
) -> collections.Counter[str]:
    """Run every READY and due message of ``queues`` until none is READY or SCHEDULED.

    Args:
        app: The app whose tasks run and whose broker is drained.
        queues: Queues to drain (``name:weight`` allowed, weights ignored); default: every
            queue the app sends to.
        max_tasks: Deliveries run before :class:`DrainLimitExceeded` is raised.

    Returns:
        Outcome counts, as ``Worker.stats``: ``acked``, ``retried``, ``dead``, ``postponed``...

    Raises:
        DrainLimitExceeded: ``max_tasks`` deliveries ran and more were waiting.
    """
    names, _ = parse_queue_specs(as_queue_list(queues) if queues is not None else app.queue_names())
    broker = app.broker
    holdings = Holdings()
    runner = DeliveryRunner(app, broker, holdings=holdings)
    worker_id = f"drain:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    ran, wait = 0, 0.0
    while True:
        deliveries = broker.reserve(
            names, worker_id=worker_id, lease=DRAIN_LEASE, limit=1, timeout=wait
        )
        if not deliveries:
            next_wait = _next_wait(broker, names)
            if next_wait is None:
                return collections.Counter(holdings.stats)
            wait = next_wait
            continue
        wait = 0.0
        if ran >= max_tasks:
            broker.release(deliveries)
            raise DrainLimitExceeded(
                f"run_until_idle ran {max_tasks} tasks and work kept coming (raise max_tasks=)"
            )
        for delivery in deliveries:
            runner.run(delivery)
            ran += 1


def _next_wait(broker: BaseBroker, queues: list[str]) -> float | None:
    """Seconds of real time to wait for the earliest SCHEDULED message; ``None``: none left.

    On a :class:`FakeClock` the clock jumps to that ETA and the wait is 0. On any other clock
    the caller's next reserve blocks that long (or until work arrives), never polling.

    Raises:
        TaskqError: the clock is fake and the broker cannot tell its next ETA.
    """
    etas = [eta for queue in queues if (eta := broker.next_eta(queue)) is not None]
    if not etas and not any(broker.counts(queue).scheduled for queue in queues):
        return None
    clock = broker.clock
    if isinstance(clock, FakeClock):
        if not etas:
            raise TaskqError(
                f"{type(broker).__name__} cannot tell its next ETA (next_eta), so the fake "
                "clock cannot jump to it; advance the clock in the test instead"
            )
        clock.set(max(min(etas), clock.now()))
        return 0.0
    return min([DRAIN_WAIT_MAX, *(max(eta - broker.now(), 0.0) for eta in etas)])

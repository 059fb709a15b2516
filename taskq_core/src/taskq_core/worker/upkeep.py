"""The worker's background timers: heartbeat (with lease renewal), schedule poll and reaper.

The heartbeat lives in the worker (it renews what the worker holds); the poll and the reaper
are the functions here.

Each timer runs on its own daemon thread and waits on one shared stop event, so an idle worker
sleeps in ``Event.wait`` rather than polling, and shutdown wakes every timer at once. A timer that
raises (Redis restarting, say) logs and tries again on its next tick; it never dies.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from taskq_core.plugins import notify
from taskq_core.schemas import TaskResult

if TYPE_CHECKING:
    from taskq_core.broker import BaseBroker

log = logging.getLogger("taskq.worker")

#: Fraction of an interval added or removed at random, so a fleet started together spreads out.
TIMER_JITTER = 0.1


class Timer:
    """Calls ``action`` now (if asked) and then every ``interval`` seconds until stopped."""

    def __init__(
        self,
        name: str,
        interval: float,
        action: Callable[[], None],
        stop: threading.Event,
        *,
        run_first: bool = True,
    ) -> None:
        self.name = name
        self.interval = interval
        self._action = action
        self._stop = stop
        self._run_first = run_first
        self._thread = threading.Thread(target=self._loop, name=f"taskq-{name}", daemon=True)

    def start(self) -> None:
        """Begin ticking on a daemon thread."""
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread to end (after the stop event is set)."""
        self._thread.join(timeout)

    def alive(self) -> bool:
        """Whether the timer's thread is running."""
        return self._thread.is_alive()

    def _next_wait(self) -> float:
        return self.interval * (1.0 + random.uniform(-TIMER_JITTER, TIMER_JITTER))

    def _tick(self) -> None:
        try:
            self._action()
        except Exception as exc:
            log.warning("%s failed: %s; retrying in %.1fs", self.name, exc, self.interval)
            log.debug("%s failure", self.name, exc_info=True)

    def _loop(self) -> None:
        if self._run_first:
            self._tick()
        while not self._stop.wait(self._next_wait()):
            self._tick()


def poll_schedules(broker: BaseBroker, queues: Sequence[str]) -> None:
    """The schedule poll: promote due SCHEDULED messages of each queue (a backstop)."""
    for queue in queues:
        broker.poll_schedule(queue)


def reap(
    broker: BaseBroker, queues: Sequence[str], worker_timeout: float, result_ttl: float
) -> None:
    """The reaper: expire silent workers' leases, then recover expired leases, in each queue.

    Messages buried at ``max_deliveries`` get a FAILURE result, so waiters do not hang.
    """
    for queue in queues:
        dead = broker.expire_dead_workers(queue, within=worker_timeout)
        if dead:
            log.warning("workers %s stopped heartbeating; expiring their leases", dead)
        report = broker.recover_expired(queue)
        if report:
            log.warning(
                "recovered %d expired leases in %s (%d to DEAD)",
                len(report.requeued) + len(report.dead),
                queue,
                len(report.dead),
            )
            for message_id in report.dead:
                broker.store_result(
                    TaskResult(
                        id=message_id,
                        status="FAILURE",
                        error_type="LeaseExpired",
                        error_message="its worker was lost too many times (see max_deliveries)",
                        finished_at=time.time(),
                    ),
                    ttl=result_ttl,
                )
            notify("taskq_leases_recovered", queue=queue, report=report)

"""The worker's background timers: heartbeat (with lease renewal), schedule poll and reaper.

The heartbeat lives in the worker (it renews what the worker holds); the poll and the reaper
are the functions here.

Each timer runs on its own daemon thread and waits on one shared stop event, so an idle worker
sleeps in ``Event.wait`` rather than polling, and shutdown wakes every timer at once. A timer that
raises (Redis restarting, say) logs and tries again on its next tick; it never dies.

A timer thread needs the GIL to wake up. A task that holds it in one long C call (a C-level loop
in an extension, a regex that backtracks for minutes) freezes every thread of the worker,
heartbeat included, so the worker looks dead and its leases go unrenewed. Python cannot prevent
that, but the heartbeat can tell afterwards: a wait that lasted far longer than asked for means
the thread was starved, and it logs one warning pointing to the processes pool.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from taskq_core.capabilities import ResultStore, WorkerRegistry
from taskq_core.plugins import notify
from taskq_core.schemas import TaskResult

if TYPE_CHECKING:
    from taskq_core.broker import BaseBroker

log = logging.getLogger("taskq.worker")

#: Fraction of an interval added or removed at random, so a fleet started together spreads out.
TIMER_JITTER = 0.1
#: Intervals one wait may last before a timer that watches for it reports it was starved.
STARVED_AFTER_INTERVALS = 2.0


class Timer:
    """Calls ``action`` now (if asked) and then every ``interval`` seconds until stopped.

    Args:
        name: What the timer does, in log lines and its thread's name.
        interval: Seconds between two calls (from the end of one to the start of the next).
        action: What to call.
        stop: Ends the timer when set.
        run_first: Call ``action`` at once instead of after the first interval.
        clock: Monotonic time source, in seconds, that waits are measured with.
        warn_starved: Log a warning when a wait lasted more than ``STARVED_AFTER_INTERVALS``
            intervals: the thread could not get the GIL back in time (see the module docstring).
    """

    def __init__(
        self,
        name: str,
        interval: float,
        action: Callable[[], None],
        stop: threading.Event,
        *,
        run_first: bool = True,
        clock: Callable[[], float] = time.monotonic,
        warn_starved: bool = False,
    ) -> None:
        self.name = name
        self.interval = interval
        self._action = action
        self._stop = stop
        self._run_first = run_first
        self._clock = clock
        self._warn_starved = warn_starved
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
        while True:
            wait = self._next_wait()
            began = self._clock()
            stopped = self._stop.wait(wait)
            if self._warn_starved:
                self._check_starved(self._clock() - began, wait)
            if stopped:
                return
            self._tick()

    def _check_starved(self, waited: float, asked: float) -> None:
        """Warn when a wait of ``asked`` seconds took ``waited``, far beyond the interval."""
        if waited > STARVED_AFTER_INTERVALS * self.interval:
            log.warning(
                "%s thread was starved: it woke %.1fs late (due every %.1fs). A task held the "
                "GIL all along, e.g. a C-level loop in the threads pool: the whole worker froze, "
                "leases went unrenewed and time limits could not fire. Run such tasks in the "
                "processes pool (--pool processes)",
                self.name,
                waited - asked,
                self.interval,
            )


def poll_schedules(broker: BaseBroker, queues: Sequence[str]) -> None:
    """The schedule poll: promote due SCHEDULED messages of each queue (a backstop)."""
    for queue in queues:
        broker.poll_schedule(queue)


def reap(
    broker: BaseBroker,
    queues: Sequence[str],
    worker_timeout: float,
    result_ttl: float,
    *,
    reaper: str | None = None,
) -> None:
    """The reaper: expire silent workers' leases, then recover expired leases, in each queue.

    ``reaper`` is this worker's id: the broker declares others dead only once this worker has
    watched their whole silence with its own unbroken heartbeats, so a broker outage, which
    silences everyone, is not taken for deaths (``WorkerRegistry.expire_dead_workers``).
    Messages buried at ``max_deliveries`` get a FAILURE result, so waiters do not hang.
    """
    # A worker consuming several queues is registered in each, so each queue reports it: one
    # line per dead worker, naming its queues, once the whole round is done.
    dead_in: dict[str, list[str]] = {}
    try:
        for queue in queues:
            expired = (
                broker.expire_dead_workers(queue, within=worker_timeout, reaper=reaper)
                if isinstance(broker, WorkerRegistry)
                else []
            )
            for worker_id in expired:
                dead_in.setdefault(worker_id, []).append(queue)
            _recover(broker, queue, result_ttl)
    finally:
        for worker_id, where in dead_in.items():
            log.warning(
                "worker %s stopped heartbeating; expired its leases in %s",
                worker_id,
                ", ".join(where),
            )


def _recover(broker: BaseBroker, queue: str, result_ttl: float) -> None:
    """Hand back the expired leases of ``queue``; FAILURE results for those buried."""
    report = broker.recover_expired(queue)
    if report:
        log.warning(
            "recovered %d expired leases in %s (%d to DEAD)",
            len(report.requeued) + len(report.dead),
            queue,
            len(report.dead),
        )
        for message_id in report.dead:
            if isinstance(broker, ResultStore):
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

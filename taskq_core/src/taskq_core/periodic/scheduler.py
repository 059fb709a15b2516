"""The scheduler: sends each due tick of the app's periodic schedules, once across all workers.

Every worker runs one (``Worker(scheduler=True)``, the default; ``taskq worker --no-scheduler``
opts out). Schedulers do not talk to each other: each computes the same ticks (see
``schedule.py``) and hands each due tick to ``PeriodicTicks.claim_tick``,
which claims it and sends its message in one atomic step, and only for a tick later than every
tick claimed before. However many schedulers run, each tick is sent once; a scheduler killed at
any moment loses nothing, since a claimed tick's message is already in READY.

Catch-up: at each look at the clock a scheduler sends only the *latest* due tick of a schedule,
so ticks missed while no scheduler ran become one send (``catch_up="latest"``), or none when
that tick is more than :data:`~taskq_core.periodic.schedule.SKIP_AFTER` seconds late
(``catch_up="skip"``). A schedule the broker has never seen starts at its next tick.

Waiting: the thread sleeps on the worker's stop event until the next tick of any schedule is
due, looking at the clock at least every :data:`MAX_WAIT` seconds so that a clock that jumps
(a test's fake clock, a corrected system clock) is followed. Time comes from the app's clock.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import TYPE_CHECKING

from taskq_core.capabilities import PeriodicTicks
from taskq_core.errors import Reject
from taskq_core.periodic.schedule import PERIODIC, SKIP_AFTER
from taskq_core.plugins import implementations, notify, plugin_manager

if TYPE_CHECKING:
    from collections.abc import Sequence

    from taskq_core.app import Taskq
    from taskq_core.periodic.schedule import Periodic

log = logging.getLogger("taskq.periodic")

#: Longest single sleep of the scheduler thread, in seconds.
MAX_WAIT = 1.0
#: Seconds before a schedule whose claim failed (broker unreachable) is tried again.
RETRY_AFTER = 1.0


class Scheduler:
    """Sends the due ticks of ``schedules``; one per worker.

    Args:
        app: The app whose broker and clock are used.
        schedules: The schedules to run (usually every one of ``app.periodic_schedules``).
        stop: Ends the thread when set (the worker's stop event: a stopping worker sends no
            more ticks; the other workers' schedulers go on).
    """

    def __init__(self, app: Taskq, schedules: Sequence[Periodic], stop: threading.Event) -> None:
        self.app = app
        self.schedules = list(schedules)
        self._stop = stop
        #: Schedule key -> the latest tick this scheduler dealt with (sent, refused or skipped).
        self._cursor: dict[str, float] = {}
        self._thread = threading.Thread(target=self._loop, name="taskq-scheduler", daemon=True)

    def start(self) -> None:
        """Begin scheduling on a daemon thread."""
        log.info("scheduler: %d periodic schedule(s)", len(self.schedules))
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread to end (after the stop event is set)."""
        self._thread.join(timeout)

    def run_due(self) -> float:
        """Offer every due tick to the broker once; return when the next tick falls due.

        The thread calls it in a loop; tests call it directly with a fake clock. A schedule
        whose broker call failed is retried :data:`RETRY_AFTER` seconds later, and its tick is
        not lost: the claim is retried until it succeeds or a later tick replaces it.
        """
        now = self.app.clock.now()
        next_due = math.inf
        for periodic in self.schedules:
            try:
                self._run_one(periodic, now)
                due = periodic.cadence.next_after(max(now, self._cursor[periodic.key]))
            except Exception as exc:
                log.warning("periodic %s failed: %s; retrying soon", periodic.key, exc)
                log.debug("periodic failure", exc_info=True)
                due = now + RETRY_AFTER
            next_due = min(next_due, due)
        return next_due

    def _run_one(self, periodic: Periodic, now: float) -> None:
        cursor = self._cursor.get(periodic.key)
        if cursor is None:
            last = PeriodicTicks.require(self.app.broker, PERIODIC).last_tick(
                periodic.queue_name, periodic.key
            )
            cursor = self._cursor[periodic.key] = now if last is None else last
        tick = periodic.cadence.latest_at_or_before(now)
        if tick <= cursor:
            return
        if periodic.catch_up == "skip" and now - tick > SKIP_AFTER:
            log.info("periodic %s: skipped the tick of %.0f (catch_up='skip')", periodic.key, tick)
        else:
            self._send(periodic, tick)
        self._cursor[periodic.key] = tick

    def _send(self, periodic: Periodic, tick: float) -> None:
        """Claim ``tick`` and send its message in one broker call (hooks around it)."""
        message = periodic.message(tick)
        if implementations("taskq_before_send"):
            try:
                plugin_manager().hook.taskq_before_send(message=message)
            except Reject as exc:
                log.info("periodic %s: a plugin rejected the tick: %s", periodic.key, exc)
                return
        if PeriodicTicks.require(self.app.broker, PERIODIC).claim_tick(
            message, schedule=periodic.key, tick=tick
        ):
            log.info("periodic %s: sent %s (tick %.0f)", periodic.key, message.id, tick)
            if implementations("taskq_after_send"):
                notify("taskq_after_send", message=message, eta=None)

    def _loop(self) -> None:
        clock = self.app.clock
        while True:
            due = self.run_due()
            if self._stop.wait(min(max(due - clock.now(), 0.0), MAX_WAIT)):
                return

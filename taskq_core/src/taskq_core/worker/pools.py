"""Where deliveries run: a pool of daemon threads, or the consumer thread itself (solo).

Both pools can hand back deliveries that were submitted but not started, so graceful shutdown can
release them to READY instead of making them wait out their lease. Threads are daemons on purpose:
a hung task must never keep the process alive after a second signal; its lease brings it back.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from taskq_core.schemas import Delivery

#: Runs and settles one delivery, never raising (``DeliveryRunner.run_in_pool``).
RunDelivery = Callable[["Delivery"], None]
#: The worker's consumer step: one reserve for the free slots (blocking while idle), or
#: ``None`` once it stops.
Consume = Callable[[], "list[Delivery] | None"]


class Pool(Protocol):
    """What the worker needs from a pool."""

    concurrency: int

    def submit(self, delivery: Delivery) -> None:
        """Run ``delivery`` now or as soon as a slot frees up."""

    def take_pending(self) -> list[Delivery]:
        """Remove and return every submitted delivery that has not started."""

    def close(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` s for running tasks to end, then stop; True if all ended.

        Called once the worker is closing (``Phase.CLOSING``).
        """


#: Seconds a queued delivery of the ``threads`` pool waits for a running thread to take it
#: before an idle thread does (when at least half the running tasks have run as long).
WAKE_AFTER = 0.001


class ThreadPool:
    """``concurrency`` daemon threads taking deliveries from one queue.

    With ``consume`` (the ``threads`` pool), the pool also consumes, leader/followers style: one
    extra thread, and the threads take turns at ``consume`` (the worker's blocking reserve).
    ``consume`` returns ``None`` once the worker stops; nobody consumes after that. The threads
    end once ``closing`` is set and :meth:`close` wakes them.

    * An idle worker runs a reserved delivery on the thread that received it (a wake-up of a
      sleeping thread costs ~0.1 ms here) and wakes an idle thread to take over consuming.
    * A busy worker queues what it reserved. The consumer role is taken again once no more
      deliveries are queued than tasks run, so the next batch is on its way while those run,
      or while every slot runs a task, so the prefetch fills; at most ``concurrency`` tasks run
      at once.
    * A thread that ended a task (or a reserve) takes the next queued delivery at once. An idle
      thread takes one only when it waited ``wake_after`` and at least half the running tasks
      have run that long too: those tasks block (sleep, wait on a slow service), so another
      thread adds to what runs at once. One idle thread, the *standby*, waits for that moment.

    So short tasks run on a few threads however large ``concurrency`` is, and tasks that block
    get up to ``concurrency`` threads, each within about ``wake_after``. Waking a thread per
    queued delivery would make short I/O-bound tasks' network calls queue behind each other for
    the GIL (a thread that waits on a socket releases the GIL and must take it back, and each
    hand-off costs context switches): with one Redis round trip per task, one worker process
    drained a quarter fewer tasks that way (``bench/``, ``--body redis``).

    Without ``consume`` (the ``processes`` pool, whose threads each drive a child process), the
    worker's consumer thread ``submit``s deliveries and an idle thread takes each at once.
    """

    def __init__(
        self,
        concurrency: int,
        run: RunDelivery,
        *,
        closing: threading.Event,
        thread_prefix: str = "taskq",
        consume: Consume | None = None,
        wake_after: float = WAKE_AFTER,
    ) -> None:
        self.concurrency = concurrency
        self._run = run
        self._consume = consume
        self._closing = closing
        self._changed = threading.Condition()
        #: Deliveries waiting for a thread, with the ``time.monotonic()`` they were queued at.
        self._pending: collections.deque[tuple[Delivery, float]] = collections.deque()
        #: ``time.monotonic()`` at which each running task started, by its thread's id.
        self._started: dict[int, float] = {}
        #: Whether the consumer role is free for a thread to take (always False without one).
        self._lead_free = consume is not None
        self._wake_after = wake_after if consume is not None else 0.0
        #: Whether an idle thread waits, with a timeout, for a queued delivery to need it.
        self._standby = False
        count = concurrency + (1 if consume is not None else 0)
        self._threads = [
            threading.Thread(target=self._loop, name=f"{thread_prefix}-exec-{i}", daemon=True)
            for i in range(count)
        ]
        for thread in self._threads:
            thread.start()

    def _loop(self) -> None:
        me = threading.get_ident()
        warm = False
        while True:
            delivery, lead = self._next(me, warm)
            if lead:
                delivery = self._lead(me)
            elif delivery is None:
                return
            warm = True
            if delivery is not None:
                try:
                    self._run(delivery)
                finally:
                    with self._changed:
                        del self._started[me]

    def _next(self, me: int, warm: bool) -> tuple[Delivery | None, bool]:
        """Wait for a delivery to run (``(delivery, False)``) or the consumer role (``True``).

        ``warm``: this thread just ended a task or a reserve, so it takes a queued delivery at
        once. The consumer role is taken once no more deliveries are queued than tasks run (each
        running thread has one to take next while the next batch is on its way), or while every
        slot runs a task (then the reserve fills the prefetch, blocking until there is room).
        """
        with self._changed:
            try:
                while True:
                    pending, started = self._pending, self._started
                    if self._lead_free and (
                        len(pending) <= len(started) or len(started) >= self.concurrency
                    ):
                        self._lead_free = False
                        return None, True
                    wait: float | None = None
                    if pending and len(started) < self.concurrency:
                        wait = 0.0 if warm else self._needed_in(time.monotonic())
                        if wait <= 0:
                            started[me] = time.monotonic()
                            return pending.popleft()[0], False
                    if self._closing.is_set():
                        return None, False
                    warm = False
                    if wait is None or self._standby:
                        self._changed.wait()
                        continue
                    self._standby = True
                    try:
                        self._changed.wait(wait)
                    finally:
                        self._standby = False
            finally:
                if self._pending and not self._standby:
                    self._changed.notify()  # an idle thread becomes the standby

    def _needed_in(self, now: float) -> float:
        """Seconds until an idle thread should take the oldest queued delivery (0 or less: now)."""
        # The later of: the oldest delivery waited wake_after; half the running tasks ran as long.
        # (Nothing runs only while a thread that ended a task is on its way to take the next.)
        since = self._pending[0][1]
        started = self._started
        if started:
            since = max(since, sorted(started.values())[(len(started) - 1) // 2])
        return since + self._wake_after - now

    def _lead(self, me: int) -> Delivery | None:
        """Consume once; returns a delivery to run here when nothing else runs, else ``None``."""
        assert self._consume is not None
        batch = self._consume()
        with self._changed:
            if batch is None:  # the worker stopped consuming: nobody takes the role again
                self._changed.notify_all()
                return None
            self._lead_free = True
            mine = None
            if batch and not self._started:
                mine, batch = batch[0], batch[1:]
                self._started[me] = time.monotonic()
                self._changed.notify()  # a next consumer
            if batch:
                now = time.monotonic()
                self._pending.extend((delivery, now) for delivery in batch)
                if not self._standby:
                    self._changed.notify()
            return mine

    def alive(self) -> bool:
        """Whether every thread of the pool is running (one that died took a slot with it)."""
        return all(thread.is_alive() for thread in self._threads)

    def submit(self, delivery: Delivery) -> None:
        """Queue ``delivery`` for the next free thread."""
        with self._changed:
            self._pending.append((delivery, time.monotonic()))
            self._changed.notify()

    def take_pending(self) -> list[Delivery]:
        """Remove the deliveries no thread has picked up yet."""
        with self._changed:
            pending = [delivery for delivery, _ in self._pending]
            self._pending.clear()
        return pending

    def close(self, timeout: float | None) -> bool:
        """Wake the threads to end once their task is done; join them until ``timeout``."""
        with self._changed:
            self._changed.notify_all()
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(remaining)
        return not any(thread.is_alive() for thread in self._threads)


class SoloPool:
    """Runs each delivery on the consumer thread: one at a time, no hand-off."""

    concurrency = 1

    def __init__(self, run: RunDelivery) -> None:
        self._run = run

    def submit(self, delivery: Delivery) -> None:
        """Run ``delivery`` before returning."""
        self._run(delivery)

    def take_pending(self) -> list[Delivery]:
        """Nothing is ever pending: a submitted delivery has already run."""
        return []

    def close(self, timeout: float | None) -> bool:
        """Nothing runs outside ``submit``."""
        return True

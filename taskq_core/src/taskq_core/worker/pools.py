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


class ThreadPool:
    """``concurrency`` daemon threads taking deliveries from one queue.

    With ``consume`` (the ``threads`` pool), the pool also consumes, leader/followers style: one
    extra thread, and the threads take turns at ``consume`` (the worker's blocking reserve).
    The thread that reserved a batch runs its first delivery itself when a slot is free,
    queues the rest, and wakes an idle thread to take over consuming. So an idle worker starts
    a task on the thread that received it, with no hand-off to another thread (a wake-up of a
    sleeping thread costs ~0.1 ms here), while at most ``concurrency`` tasks run at once and
    the worker keeps reserving while they run. ``consume`` returns ``None`` once the worker
    stops; nobody consumes after that. The threads end once ``closing`` is set and
    :meth:`close` wakes them.

    Without ``consume`` (the ``processes`` pool, whose threads each drive a child process), the
    worker's consumer thread ``submit``s deliveries to ``concurrency`` threads.
    """

    def __init__(
        self,
        concurrency: int,
        run: RunDelivery,
        *,
        closing: threading.Event,
        thread_prefix: str = "taskq",
        consume: Consume | None = None,
    ) -> None:
        self.concurrency = concurrency
        self._run = run
        self._consume = consume
        self._closing = closing
        self._changed = threading.Condition()
        self._pending: collections.deque[Delivery] = collections.deque()
        self._running = 0
        #: Whether the consumer role is free for a thread to take (always False without one).
        self._lead_free = consume is not None
        count = concurrency + (1 if consume is not None else 0)
        self._threads = [
            threading.Thread(target=self._loop, name=f"{thread_prefix}-exec-{i}", daemon=True)
            for i in range(count)
        ]
        for thread in self._threads:
            thread.start()

    def _next(self) -> tuple[Delivery | None, bool]:
        """Wait for a delivery to run (``(delivery, False)``) or the consumer role (``True``)."""
        with self._changed:
            while True:
                if self._pending and self._running < self.concurrency:
                    self._running += 1
                    return self._pending.popleft(), False
                if self._closing.is_set():
                    return None, False
                if self._lead_free:
                    self._lead_free = False
                    return None, True
                self._changed.wait()

    def _loop(self) -> None:
        while True:
            delivery, lead = self._next()
            if lead:
                delivery = self._lead()
            elif delivery is None:
                return
            if delivery is not None:
                try:
                    self._run(delivery)
                finally:
                    with self._changed:
                        self._running -= 1
                        if self._pending:
                            self._changed.notify()

    def _lead(self) -> Delivery | None:
        """Consume once; keep the first delivery to run here if a slot is free."""
        assert self._consume is not None
        batch = self._consume()
        with self._changed:
            if batch is None:  # the worker stopped consuming: nobody takes the role again
                self._changed.notify_all()
                return None
            self._lead_free = True
            mine = None
            if batch and self._running < self.concurrency:
                self._running += 1
                mine, batch = batch[0], batch[1:]
            self._pending.extend(batch)
            # Takers for the batch, and a next consumer when this thread runs a task; with
            # nothing to run, this thread takes the role again itself (no wake-up).
            self._changed.notify(len(batch) + (1 if mine is not None else 0))
            return mine

    def alive(self) -> bool:
        """Whether every thread of the pool is running (one that died took a slot with it)."""
        return all(thread.is_alive() for thread in self._threads)

    def submit(self, delivery: Delivery) -> None:
        """Queue ``delivery`` for the next free thread."""
        with self._changed:
            self._pending.append(delivery)
            self._changed.notify()

    def take_pending(self) -> list[Delivery]:
        """Remove the deliveries no thread has picked up yet."""
        with self._changed:
            pending = list(self._pending)
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

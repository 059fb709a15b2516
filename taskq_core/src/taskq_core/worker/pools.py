"""Where deliveries execute: a pool of daemon threads, or the consumer thread itself (solo).

Both pools can hand back deliveries that were submitted but not started, so graceful shutdown can
release them to READY instead of making them wait out their lease. Threads are daemons on purpose:
a hung task must never keep the process alive after a second signal; its lease brings it back.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from taskq_core.schemas import Delivery

Execute = Callable[["Delivery"], None]


class Pool(Protocol):
    """What the worker needs from an execution pool."""

    name: str
    concurrency: int

    def submit(self, delivery: Delivery) -> None:
        """Run ``delivery`` now or as soon as a slot frees up."""

    def take_pending(self) -> list[Delivery]:
        """Remove and return every submitted delivery that has not started."""

    def close(self, timeout: float | None) -> bool:
        """Stop accepting work and wait up to ``timeout`` s for running tasks; True if all ended."""


class ThreadPool:
    """``concurrency`` daemon threads reading one queue."""

    name = "threads"

    def __init__(self, concurrency: int, execute: Execute, *, thread_prefix: str = "taskq") -> None:
        self.concurrency = concurrency
        self._execute = execute
        self._queue: queue.SimpleQueue[Delivery | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._loop, name=f"{thread_prefix}-exec-{i}", daemon=True)
            for i in range(concurrency)
        ]
        for thread in self._threads:
            thread.start()

    def _loop(self) -> None:
        while True:
            delivery = self._queue.get()
            if delivery is None:
                return
            self._execute(delivery)

    def submit(self, delivery: Delivery) -> None:
        """Queue ``delivery`` for the next free thread."""
        self._queue.put(delivery)

    def take_pending(self) -> list[Delivery]:
        """Drain the queue of deliveries no thread has picked up yet."""
        pending: list[Delivery] = []
        sentinels = 0
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                sentinels += 1
            else:
                pending.append(item)
        for _ in range(sentinels):
            self._queue.put(None)
        return pending

    def close(self, timeout: float | None) -> bool:
        """Send one stop sentinel per thread and join them until ``timeout``."""
        for _ in self._threads:
            self._queue.put(None)
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(remaining)
        return not any(thread.is_alive() for thread in self._threads)


class SoloPool:
    """Runs each delivery on the consumer thread: one at a time, no hand-off."""

    name = "solo"
    concurrency = 1

    def __init__(self, execute: Execute) -> None:
        self._execute = execute

    def submit(self, delivery: Delivery) -> None:
        """Run ``delivery`` before returning."""
        self._execute(delivery)

    def take_pending(self) -> list[Delivery]:
        """Nothing is ever pending: a submitted delivery has already run."""
        return []

    def close(self, timeout: float | None) -> bool:
        """Nothing runs outside ``submit``."""
        return True

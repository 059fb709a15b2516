"""Time limits for tasks that run in threads, by raising an exception inside the task's thread.

A thread cannot be killed, but CPython can schedule an exception in another thread
(``PyThreadState_SetAsyncExc``); it is raised at the next bytecode the thread executes. That stops
pure-Python work (loops, most library code) but not a thread blocked inside one C call (a socket
read without timeout, ``time.sleep``) until that call returns. Tasks that need a hard guarantee run
in the ``processes`` pool, whose parent kills the child at the limit.
"""

from __future__ import annotations

import ctypes
import heapq
import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from taskq_core.errors import SoftTimeLimitExceeded, TimeLimitExceeded

__all__ = ["SoftTimeLimitExceeded", "ThreadWatchdog", "TimeLimitExceeded", "raise_in_thread"]


def raise_in_thread(thread_id: int, exc_type: type[BaseException] | None) -> None:
    """Schedule ``exc_type`` in ``thread_id``, or clear a scheduled one with ``None``."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc_type) if exc_type else None
    )


class _Watch:
    __slots__ = ("active", "fired", "thread_id")

    def __init__(self, thread_id: int) -> None:
        self.thread_id = thread_id
        self.active = True
        self.fired = False


#: (due at, tie-breaker, watch, exception to raise)
_Due = tuple[float, int, _Watch, type[BaseException]]


class ThreadWatchdog:
    """One daemon thread that raises time-limit exceptions in task threads when they are due."""

    def __init__(self) -> None:
        self._due: list[_Due] = []
        self._counter = itertools.count()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    @contextmanager
    def limit(self, soft: float | None, hard: float | None) -> Iterator[None]:
        """Enforce ``soft``/``hard`` seconds on the code inside the ``with`` block."""
        if not soft and not hard:
            yield
            return
        watch = _Watch(threading.get_ident())
        now = time.monotonic()
        with self._changed:
            entries: list[_Due] = []
            if soft:
                entries.append((now + soft, next(self._counter), watch, SoftTimeLimitExceeded))
            if hard:
                entries.append((now + hard, next(self._counter), watch, TimeLimitExceeded))
            for entry in entries:
                heapq.heappush(self._due, entry)
            self._start()
            self._changed.notify()
        try:
            yield
        finally:
            with self._changed:
                watch.active = False
                if watch.fired:
                    raise_in_thread(watch.thread_id, None)  # drop one not yet raised

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="taskq-watchdog", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        with self._changed:
            while True:
                while self._due and not self._due[0][2].active:
                    heapq.heappop(self._due)
                if not self._due:
                    self._changed.wait()
                    continue
                wait = self._due[0][0] - time.monotonic()
                if wait > 0:
                    self._changed.wait(wait)
                    continue
                _, _, watch, exc_type = heapq.heappop(self._due)
                if watch.active:
                    watch.fired = True
                    raise_in_thread(watch.thread_id, exc_type)

"""Stopping running tasks that were revoked with ``terminate=True``.

``revoke(terminate=True)`` leaves a request in the broker for the worker that holds the
message; while any task runs, a :class:`TerminationListener` thread blocks in
``broker.wait_terminations`` (on Redis a ``BLPOP`` on the worker's own list), so a request
reaches the worker at once, without polling; an idle worker sends nothing for it.
It hands each id to the invoker's :class:`Stoppers`, which stops the task the way its pool can:

* threads (and solo): ``TaskTerminated`` is raised in the task's thread, as for time limits
  (``limits.py``); it lands at the next Python bytecode, so a task blocked in one long C call
  (a ``time.sleep(60)``, a read without timeout) stops only when that call returns;
* async tasks: the coroutine is cancelled at its next ``await``;
* processes: the child is killed (and a new one started for the next task).

The runner then ends the message REVOKED (``broker.end``), never retried. A request for a
delivery that has not started yet (prefetched) is remembered, and the delivery ends REVOKED
when it would start.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from taskq_core.errors import TaskTerminated
from taskq_core.worker.limits import raise_in_thread

if TYPE_CHECKING:
    from taskq_core.capabilities import Revocation

log = logging.getLogger("taskq.worker")

#: Requests remembered for deliveries not running (yet): the oldest are dropped beyond this.
ASKED_KEPT = 10_000
#: Seconds one ``wait_terminations`` call blocks at most, so a stopping worker's listener ends.
LISTEN_CHUNK = 5.0
#: Seconds between two looks of an idle listener at whether a task runs.
IDLE_CHECK = 0.25
#: Seconds the listener waits before trying again after the broker failed.
LISTEN_RETRY = 1.0


#: How to stop one running task: the id of the thread to raise ``TaskTerminated`` in, or a
#: function to call (cancel a coroutine, kill a child process).
Stop = int | Callable[[], object]


class Stoppers:
    """Which deliveries are running and how to stop each; thread-safe.

    On the hot path (every task) :meth:`enter` is one dict write and :meth:`leave` one
    uncontended lock and a dict pop; the lock only matters when a termination races the end
    of a task, so a stop never reaches a task that already left.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, Stop] = {}
        #: Running deliveries already stopped (their ``leave`` reports it).
        self._fired: set[str] = set()
        self._asked: collections.OrderedDict[str, None] = collections.OrderedDict()

    def enter(self, delivery_id: str, stop: Stop) -> None:
        """``delivery_id``'s task starts: :meth:`terminate` uses ``stop`` until :meth:`leave`.

        Call it inside the ``try`` whose ``finally`` calls :meth:`leave`.

        Raises:
            TaskTerminated: the delivery was asked to terminate before it started.
        """
        self._running[delivery_id] = stop
        if self._asked:  # rare: some request came for a delivery that was not running
            with self._lock:
                if self._asked.pop(delivery_id, 0) is None:
                    self._running.pop(delivery_id, None)
                    raise TaskTerminated(f"{delivery_id} was revoked before it started")

    def leave(self, delivery_id: str) -> bool:
        """``delivery_id``'s task ended; ``True`` when it was stopped."""
        with self._lock:
            self._running.pop(delivery_id, None)
            if not self._fired:
                return False
            if delivery_id in self._fired:
                self._fired.discard(delivery_id)
                return True
            return False

    def busy(self) -> bool:
        """Whether any task runs (a look without the lock; the listener only needs a hint)."""
        return bool(self._running)

    def terminate(self, delivery_id: str) -> bool:
        """Stop ``delivery_id``'s task if it runs (``True``), else remember the request."""
        with self._lock:
            stop = self._running.get(delivery_id)
            if stop is None:
                self._asked[delivery_id] = None
                while len(self._asked) > ASKED_KEPT:
                    self._asked.popitem(last=False)
                return False
            if delivery_id not in self._fired:
                self._fired.add(delivery_id)
                if isinstance(stop, int):
                    raise_in_thread(stop, TaskTerminated)
                else:
                    stop()
            return True


class TerminationListener(threading.Thread):
    """Daemon thread: termination requests for this worker from the broker to the stoppers."""

    def __init__(
        self,
        broker: Revocation,
        worker_id: str,
        queues: Sequence[str],
        stoppers: Stoppers,
        stop: threading.Event,
    ) -> None:
        super().__init__(name=f"taskq-{worker_id}-terminations", daemon=True)
        self._broker = broker
        self._worker_id = worker_id
        self._queues = list(queues)
        self._stoppers = stoppers
        self._stop = stop

    def run(self) -> None:
        """Wait for requests while tasks run, until the worker stops.

        An idle worker sends nothing: requests made meanwhile wait in the broker, and one for a
        prefetched delivery is read as soon as any task starts (before or when it does).
        Broker errors only delay the next wait.
        """
        while not self._stop.is_set():
            if not self._stoppers.busy():
                # A local look, no broker call: the next start is noticed within IDLE_CHECK.
                self._stop.wait(IDLE_CHECK)
                continue
            try:
                ids = self._broker.wait_terminations(
                    self._worker_id, self._queues, timeout=LISTEN_CHUNK
                )
            except Exception as exc:
                log.debug("waiting for termination requests failed: %s", exc)
                self._stop.wait(LISTEN_RETRY)
                continue
            for message_id in ids:
                if self._stoppers.terminate(message_id):
                    log.info("task %s revoked: terminating it", message_id)

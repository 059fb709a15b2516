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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from taskq_core.errors import TaskTerminated

if TYPE_CHECKING:
    from taskq_core.broker import BaseBroker

log = logging.getLogger("taskq.worker")

#: Requests remembered for deliveries not running (yet): the oldest are dropped beyond this.
ASKED_KEPT = 10_000
#: Seconds one ``wait_terminations`` call blocks at most, so a stopping worker's listener ends.
LISTEN_CHUNK = 5.0
#: Seconds an idle listener waits for a task to start before it checks whether to stop.
IDLE_CHECK = 1.0
#: Seconds the listener waits before trying again after the broker failed.
LISTEN_RETRY = 1.0


class Stoppers:
    """Which deliveries are running and how to stop each; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started = threading.Condition(self._lock)
        self._stops: dict[str, Callable[[], object]] = {}
        self._asked: collections.OrderedDict[str, None] = collections.OrderedDict()

    @contextmanager
    def stoppable(self, delivery_id: str, stop: Callable[[], object]) -> Iterator[None]:
        """Run the block as ``delivery_id``'s task; :meth:`terminate` calls ``stop`` meanwhile.

        Raises:
            TaskTerminated: the delivery was asked to terminate before it started.
        """
        with self._lock:
            if self._asked.pop(delivery_id, 0) is None:
                raise TaskTerminated(f"{delivery_id} was revoked before it started")
            self._stops[delivery_id] = stop
            self._started.notify_all()
        try:
            yield
        finally:
            with self._lock:
                self._stops.pop(delivery_id, None)

    def wait_running(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s until some task runs; ``True`` if one does."""
        with self._started:
            return self._started.wait_for(lambda: bool(self._stops), timeout)

    def terminate(self, delivery_id: str) -> bool:
        """Stop ``delivery_id``'s task if it runs (``True``), else remember the request.

        ``stop`` runs under the lock, so it never reaches a task that already left its block.
        """
        with self._lock:
            stop = self._stops.get(delivery_id)
            if stop is None:
                self._asked[delivery_id] = None
                while len(self._asked) > ASKED_KEPT:
                    self._asked.popitem(last=False)
                return False
            stop()
            return True


class TerminationListener(threading.Thread):
    """Daemon thread: termination requests for this worker from the broker to the stoppers."""

    def __init__(
        self,
        broker: BaseBroker,
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
            if not self._stoppers.wait_running(IDLE_CHECK):
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

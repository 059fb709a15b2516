"""The worker: reserve -> run -> settle, plus heartbeat, schedule poll and reaper timers.

Threads (built and wired in ``assembly.py``):

* the consumer reserves batches, blocking in the broker (never sleep-polling) while idle, and only
  when the pool has a free slot (+ ``prefetch`` reserved ahead); in the ``threads`` pool the
  pool's threads take turns at it, and the one that reserved runs the first delivery itself
  (see ``ThreadPool``), elsewhere it is a thread of its own;
* the pool runs deliveries (``threads``, ``processes`` or ``solo``) through the
  ``DeliveryRunner``, which settles each one (``runner.py``);
* the acker acks succeeded deliveries in batches (``acker.py``);
* timers: heartbeat (liveness + renewal of the leases of everything held, running or prefetched),
  schedule poll (backstop promotion of due ETAs) and reaper (dead workers, expired leases);
* the scheduler of the app's periodic schedules (``periodic/scheduler.py``), until stopping.

The worker's life is one :class:`~taskq_core.worker.lifecycle.Phase` at a time. Shutdown: the
first SIGTERM/SIGINT (or ``stop()``) enters ``DRAINING``: reserving stops, prefetched deliveries
go back to READY, and running tasks finish within ``shutdown_grace`` seconds while heartbeats keep
their leases alive; then ``CLOSING`` stops the timers and the pool, and the acker acks what is
left. A second signal stops at once; leases bring unfinished work back.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING

from taskq_core.app import app_spec_of
from taskq_core.broker import as_queue_list
from taskq_core.capabilities import WorkerRegistry
from taskq_core.errors import ConfigurationError
from taskq_core.plugins import notify
from taskq_core.schemas import WorkerInfo
from taskq_core.worker.assembly import Parts, assemble
from taskq_core.worker.holding import Holdings
from taskq_core.worker.lifecycle import Lifecycle, Phase
from taskq_core.worker.link import BrokerLink
from taskq_core.worker.liveness import Liveness
from taskq_core.worker.pools import ThreadPool
from taskq_core.worker.prefetch import Prefetch, loop_prefetch
from taskq_core.worker.processes import same_app
from taskq_core.worker.queues import QueueOrder, parse_queue_specs
from taskq_core.worker.recycling import Recycling
from taskq_core.worker.startup import wait_for_broker

if TYPE_CHECKING:
    from taskq_core.app import Taskq
    from taskq_core.schemas import Delivery

log = logging.getLogger("taskq.worker")

POOLS = ("threads", "processes", "solo")
#: Longest a consumer blocks in one reserve call; bounds how stale a blocked connection can get.
DEFAULT_BLOCK_TIMEOUT = 5.0
#: Longest the main thread blocks in one wait during ``run()``, in seconds. A signal the kernel
#: delivers to another thread runs its Python handler only when the main thread next checks for
#: signals, which a wait without a timeout never does: the signal would be lost.
SIGNAL_CHECK_INTERVAL = 0.2
#: Longest shutdown waits for the last coalesced acks, in seconds (one round trip; while Redis
#: is down the acker goes on trying until the leases run out, and the leases bring back what
#: it could not ack).
ACKER_CLOSE_TIMEOUT = 10.0


class Worker:
    """Consumes queues of one app.

    Args:
        app: The app whose tasks this worker runs (and whose broker it uses).
        name: Worker id in heartbeats and leases; default ``host:pid:random``. Must be unique.
        queues: Queues to consume; default: every queue the app sends to. ``"name:weight"``
            entries weight the fair order (see ``worker/queues.py``).
        queue_order: ``fair`` (default: round-robin over the queues, weighted when weights are
            given, so no queue starves) or ``strict`` (always the listed order: a queue runs
            only when the ones before it are empty).
        concurrency: Tasks running at once (``async def`` tasks aside in the ``threads`` and
            ``solo`` pools: see ``async_concurrency``).
        async_concurrency: ``threads`` and ``solo`` pools: ``async def`` tasks running at once
            as coroutines on the worker's event loop, each without a pool thread
            (``worker/coroutines.py``); default: ``concurrency`` (``threads``), or none for
            ``solo``, which then runs each coroutine on its consumer thread, one task at a
            time. The ``processes`` pool runs a coroutine in a child like any task.
        pool: ``threads`` (default), ``processes`` (one child process per slot; survives
            children that crash, enforces hard time limits by killing) or ``solo`` (run on the
            consumer thread).
        prefetch: Deliveries reserved ahead of a free slot; 0 is fair mode. Default: adapted
            to the tasks' duration, so that about 0.1 s of the pool's work waits reserved
            ahead: up to ``max(32, 4 x concurrency)`` for short tasks (one round trip per
            batch), down to 0 for tasks of a second or more, where holding work back from
            other workers costs more than the round trip saves (``worker/prefetch.py``).
        heartbeat_interval: Seconds between heartbeats; each renews every held lease.
        schedule_poll_interval: Seconds between backstop promotions of due scheduled messages.
        reaper_interval: Seconds between recoveries of dead workers' and expired leases.
        visibility_timeout: Lease length in seconds; a silent worker's tasks return after it.
        worker_timeout: Seconds of silence after which a worker counts as dead and its leases are
            expired at once; default four heartbeats. This worker's reaper judges only a
            silence it watched while heartbeating without a gap itself, so a broker outage is
            not taken for deaths (``WorkerRegistry.expire_dead_workers``).
        shutdown_grace: Seconds running tasks get to finish after the first stop signal.
        block_timeout: Longest single blocking reserve, in seconds.
        app_spec: ``module:attribute`` the ``processes`` pool's children import the app from;
            found automatically when the app is a module attribute.
        connect_timeout: Seconds a starting worker keeps retrying an unreachable (or loading)
            broker before it gives up with ``BrokerUnavailable``; default: retry until it
            answers or the worker is stopped (``worker/startup.py``).
        scheduler: Run the scheduler of the app's periodic schedules (each tick is sent once
            however many workers run one; see ``periodic/scheduler.py``).
        max_tasks_per_child: ``processes`` pool: replace a child after this many tasks.
        max_memory_per_child: ``processes`` pool: replace a child whose resident memory, read
            by the child after a task, passed this many KiB (``worker/processes.py``).
    """

    def __init__(
        self,
        app: Taskq,
        *,
        name: str | None = None,
        queues: str | Sequence[str] | None = None,
        queue_order: str = "fair",
        concurrency: int = 8,
        async_concurrency: int | None = None,
        pool: str = "threads",
        prefetch: int | None = None,
        heartbeat_interval: float = 5.0,
        schedule_poll_interval: float = 5.0,
        reaper_interval: float = 10.0,
        visibility_timeout: float = 30.0,
        worker_timeout: float | None = None,
        shutdown_grace: float = 30.0,
        block_timeout: float = DEFAULT_BLOCK_TIMEOUT,
        app_spec: str | None = None,
        connect_timeout: float | None = None,
        scheduler: bool = True,
        max_tasks_per_child: int | None = None,
        max_memory_per_child: int | None = None,
    ) -> None:
        if pool not in POOLS:
            raise ConfigurationError(f"unknown pool {pool!r}; choose one of {', '.join(POOLS)}")
        if concurrency < 1:
            raise ConfigurationError("concurrency must be >= 1")
        if heartbeat_interval * 2 > visibility_timeout:
            raise ConfigurationError(
                f"heartbeat_interval ({heartbeat_interval}s) must be at most half the "
                f"visibility_timeout ({visibility_timeout}s), or leases expire between heartbeats"
            )
        self.app = app
        self.id = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        chosen = as_queue_list(queues) if queues is not None else app.queue_names()
        self.queues, weights = parse_queue_specs(chosen)
        #: Which queue each reserve tries first (``fair`` or ``strict``).
        self.queue_order = QueueOrder(self.queues, weights, order=queue_order)
        if not self.queues:
            raise ConfigurationError("a worker needs at least one queue to consume")
        self.concurrency = 1 if pool == "solo" else concurrency
        if async_concurrency is not None and async_concurrency < 1:
            raise ConfigurationError("async_concurrency must be >= 1")
        if async_concurrency is not None and pool == "processes":
            raise ConfigurationError("async_concurrency needs the threads or solo pool")
        #: Coroutines at once; ``None`` (``solo`` by default): one at a time on the consumer
        #: thread, so no two tasks of a solo worker ever overlap.
        self.async_concurrency = async_concurrency or (None if pool == "solo" else concurrency)
        self.pool_name = pool
        if prefetch is not None and prefetch < 0:
            raise ConfigurationError("prefetch must be >= 0")
        #: The prefetch in force (fixed, or adapted to the tasks' duration).
        self.prefetch_policy = Prefetch(self.concurrency, prefetch)
        #: The ``prefetch`` asked for; ``None`` is the adaptive default.
        self.prefetch_setting = prefetch
        #: The most deliveries held beyond the running ones (the adaptive default's ceiling).
        self.prefetch = self.prefetch_policy.cap
        self.heartbeat_interval = heartbeat_interval
        self.schedule_poll_interval = schedule_poll_interval
        self.reaper_interval = reaper_interval
        self.visibility_timeout = visibility_timeout
        self.worker_timeout = worker_timeout or heartbeat_interval * 4
        self.shutdown_grace = shutdown_grace
        self.block_timeout = block_timeout
        self.app_spec = app_spec
        if connect_timeout is not None and connect_timeout < 0:
            raise ConfigurationError("connect_timeout must be >= 0")
        self.connect_timeout = connect_timeout
        self.scheduler = scheduler
        self.recycling = Recycling.checked(pool, max_tasks_per_child, max_memory_per_child)
        if pool == "processes":
            self.app_spec = app_spec or app_spec_of(app)
            if self.app_spec is None or not same_app(self.app_spec, app):
                raise ConfigurationError(
                    "the processes pool needs the app importable as module:attribute "
                    f"(found {self.app_spec!r}); define it at module level or pass app_spec="
                )

        #: The worker's phase (``worker/lifecycle.py``).
        self.lifecycle = Lifecycle()
        #: The deliveries held, their leases and the outcome counts (``worker/holding.py``).
        coroutines = self.async_concurrency or 0
        ahead = loop_prefetch(coroutines, prefetch) if coroutines else None
        self.holdings = Holdings(visibility_timeout, coroutines, ahead)
        #: Whether the broker answers, as every part reports it (``worker/link.py``).
        self.link = BrokerLink()
        #: Outcome counts (``Outcome``: acked, retried, dead, lost, postponed, error...).
        self.stats = self.holdings.stats
        self._parts: Parts | None = None
        self._info = WorkerInfo(
            worker_id=self.id,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            queues=tuple(self.queues),
            concurrency=self.concurrency,
            pool=pool,
            started_at=time.time(),
            version=_version(),
            heartbeat_interval=heartbeat_interval,
        )

    def __repr__(self) -> str:
        return f"<Worker {self.id} queues={','.join(self.queues)} pool={self.pool_name}>"

    # -- public API ------------------------------------------------------------------------------

    @property
    def held(self) -> list[Delivery]:
        """Deliveries this worker holds right now (running or prefetched)."""
        return self.holdings.snapshot()

    @property
    def info(self) -> WorkerInfo:
        """The worker's registration, as its last heartbeat sent it."""
        return self._info if self._parts is None else self._parts.heartbeat.info

    def slots(self) -> int:
        """How many deliveries the worker may hold right now: running and prefetched."""
        return self.concurrency + self.prefetch_policy.current()

    def start(self) -> None:
        """Wait for the broker, then start consuming on background threads and return.

        Returns without starting anything when a stop comes while the broker is still
        unreachable (see ``worker/startup.py``).

        Raises:
            BrokerUnavailable: the broker stayed unreachable for ``connect_timeout`` seconds.
        """
        life = self.lifecycle
        with life.lock:
            if life.phase is Phase.STOPPED and self._parts is None:
                return  # stopped before it started
            if life.phase is not Phase.NEW:
                raise RuntimeError("a Worker can be started once")
            life.advance(Phase.STARTING)
        broker = wait_for_broker(
            self.app,
            self.queues,
            stop_requested=lambda: bool(life.signals) or life.phase is Phase.STOPPED,
            connect_timeout=self.connect_timeout,
            scheduler=self.scheduler,
        )
        if broker is None:
            return
        with life.lock:
            # Under the lock: a stop() arriving now waits until everything below exists.
            if life.reached(Phase.STOPPED).is_set():  # stopped while waiting for the broker
                return
            self._parts = assemble(self, broker)
            life.advance(Phase.RUNNING)
        notify("taskq_worker_started", worker=self.info)

    def stop(self, timeout: float | None = None) -> bool:
        """Stop gracefully; returns True when every running task finished in time.

        Args:
            timeout: Seconds running tasks may take to finish; default ``shutdown_grace``.
        """
        return self._shutdown("stop()", self.shutdown_grace if timeout is None else timeout)

    def run(self) -> None:
        """Consume until SIGTERM/SIGINT (first: graceful, second: immediate)."""
        in_main = threading.current_thread() is threading.main_thread()
        previous = {}
        if in_main:
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, self._on_signal)
        life = self.lifecycle
        try:
            self.start()
            draining = life.reached(Phase.DRAINING)
            while not life.signals and not draining.wait(SIGNAL_CHECK_INTERVAL):
                pass
            if life.signals and self._parts is not None:
                log.info("stop signal: finishing running tasks (again to stop now)")
            self._shutdown("signal" if life.signals else "stop()", self.shutdown_grace)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def liveness(self) -> Liveness:
        """The worker's vital signs for health checks (thread-safe, no broker call)."""
        parts = self._parts
        if parts is None:
            return Liveness(False, False, None, self.heartbeat_interval)
        if parts.consumer_thread is not None:
            consuming = parts.consumer_thread.is_alive()
        else:
            consuming = isinstance(parts.pool, ThreadPool) and parts.pool.alive()
        heartbeat = next((timer for timer in parts.timers if timer.name == "heartbeat"), None)
        last_ok = parts.heartbeat.ok_at
        return Liveness(
            consuming=consuming and self.lifecycle.phase is Phase.RUNNING,
            heartbeating=heartbeat is not None and heartbeat.alive(),
            heartbeat_age=None if last_ok is None else time.monotonic() - last_ok,
            heartbeat_interval=self.heartbeat_interval,
        )

    def wait_stopped(self, timeout: float | None = None) -> bool:
        """Block until the worker has shut down; True if it did within ``timeout``."""
        return self.lifecycle.reached(Phase.STOPPED).wait(timeout)

    # -- signals and shutdown --------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Python runs this on the main thread between two bytecodes, possibly while that thread
        # holds the lock of an Event or of logging; setting an Event here can deadlock. So it only
        # counts, and the main thread's timed waits in run() and _shutdown() act on the count.
        self.lifecycle.signals += 1

    def _shutdown(self, reason: str, grace: float) -> bool:
        """Shut down once; a concurrent caller (stop() during run()) waits for that one."""
        life = self.lifecycle
        with life.lock:
            phase = life.phase
            if phase < Phase.RUNNING:  # not started, or stopped while waiting for the broker
                life.advance(Phase.STOPPED)
                return True
            if phase is Phase.RUNNING:
                life.advance(Phase.DRAINING)
        if phase is not Phase.RUNNING:
            life.reached(Phase.STOPPED).wait()
            return life.finished
        try:
            life.finished = self._drain_and_close(reason, grace)
        finally:
            life.advance(Phase.STOPPED)
        return life.finished

    def _drain_and_close(self, reason: str, grace: float) -> bool:
        """``DRAINING``: let running tasks end within ``grace``; then ``CLOSING``."""
        parts, life, holdings = self._parts, self.lifecycle, self.holdings
        assert parts is not None
        notify("taskq_worker_stopping", worker=self.info, reason=reason)
        parts.broker.interrupt()
        holdings.wake()
        # One grace period for the whole drain. A solo pool runs tasks on the consumer thread, so
        # joining it is part of the grace, and a second signal must cut that join short too.
        deadline = time.monotonic() + grace
        while self._consuming(parts) and not life.stop_now():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if parts.consumer_thread is not None:
                parts.consumer_thread.join(min(remaining, 0.1))
            else:
                holdings.wake(min(remaining, 0.1))
        waiting = parts.coroutines.take_waiting() if parts.coroutines is not None else []
        parts.consumer.release(parts.pool.take_pending() + waiting)
        finished = holdings.wait_empty(deadline, life.stop_now)
        life.advance(Phase.CLOSING)
        for timer in parts.timers:
            timer.join(timeout=5)
        if parts.scheduler is not None:
            parts.scheduler.join(timeout=5)
        parts.pool.close(timeout=0 if not finished else 1)
        parts.acker.close(timeout=ACKER_CLOSE_TIMEOUT)
        parts.invoker.close()
        try:
            if isinstance(parts.broker, WorkerRegistry):
                parts.broker.forget_worker(self.info)
        except Exception as exc:
            log.warning("could not unregister worker: %s", exc)
        log.info("worker %s stopped (%s)", self.id, {str(k): n for k, n in self.stats.items()})
        return finished

    def _consuming(self, parts: Parts) -> bool:
        """Whether a reserve may still be under way (then it may still hand out deliveries)."""
        if parts.consumer_thread is not None:
            return parts.consumer_thread.is_alive()
        return self.holdings.reserving()


def _version() -> str:
    from taskq_core import __version__

    return __version__

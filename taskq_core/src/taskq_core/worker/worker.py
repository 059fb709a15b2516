"""The worker: reserve -> execute -> settle, plus heartbeat, schedule poll and reaper timers.

Threads (as in the seed design):

* the consumer reserves batches, blocking in the broker (never sleep-polling) while idle, and only
  when the pool has a free slot (+ ``prefetch`` reserved ahead); in the ``threads`` pool the
  pool's threads take turns at it, and the one that reserved runs the first delivery itself
  (see ``ThreadPool``), elsewhere it is a thread of its own;
* the pool runs deliveries (``threads``, ``processes`` or ``solo``);
* the settler acks succeeded deliveries in batches (``settler.py``);
* timers: heartbeat (liveness + renewal of the leases of everything held, running or prefetched),
  schedule poll (backstop promotion of due ETAs) and reaper (dead workers, expired leases);
* the scheduler of the app's periodic schedules (``periodic/scheduler.py``), until stopping.

Shutdown: the first SIGTERM/SIGINT (or ``stop()``) stops reserving, releases prefetched deliveries
back to READY, and lets running tasks finish within ``shutdown_grace`` seconds while heartbeats
keep their leases alive. A second signal stops at once; leases bring unfinished work back.
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
from taskq_core.capabilities import Revocation, WorkerRegistry
from taskq_core.errors import BrokerUnavailable, ConfigurationError
from taskq_core.periodic.scheduler import Scheduler
from taskq_core.plugins import notify
from taskq_core.schemas import WorkerInfo
from taskq_core.worker.banner import BANNER_LOGGER, banner
from taskq_core.worker.consumer import Consumer
from taskq_core.worker.execute import PENDING, DeliveryRunner
from taskq_core.worker.holding import Holdings
from taskq_core.worker.invoke import InProcessInvoker, Invoker
from taskq_core.worker.link import BrokerLink, one_line, patiently
from taskq_core.worker.liveness import Liveness
from taskq_core.worker.pools import Pool, SoloPool, ThreadPool
from taskq_core.worker.prefetch import Prefetch
from taskq_core.worker.processes import ProcessInvoker, same_app
from taskq_core.worker.queues import QueueOrder, parse_queue_specs
from taskq_core.worker.recycling import Recycling
from taskq_core.worker.revocation import TerminationListener
from taskq_core.worker.settler import Settler
from taskq_core.worker.startup import wait_for_broker
from taskq_core.worker.upkeep import Timer, poll_schedules, reap

if TYPE_CHECKING:
    from collections.abc import Callable

    from taskq_core.app import Taskq
    from taskq_core.broker import BaseBroker
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
#: is down the settler goes on trying until the leases run out, and the leases bring back what
#: it could not ack).
SETTLER_CLOSE_TIMEOUT = 10.0


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
        concurrency: Tasks running at once.
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
        self.pool_name = pool
        if prefetch is not None and prefetch < 0:
            raise ConfigurationError("prefetch must be >= 0")
        self._prefetch = Prefetch(self.concurrency, prefetch)
        #: The ``prefetch`` asked for; ``None`` is the adaptive default.
        self.prefetch_setting = prefetch
        #: The most deliveries held beyond the running ones (the adaptive default's ceiling).
        self.prefetch = self._prefetch.cap
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

        self._holdings = Holdings()
        self._link = BrokerLink()
        #: Outcome counts (acked, retried, dead, lost, postponed, error).
        self.stats = self._holdings.stats
        self._stopping = threading.Event()
        self._upkeep_stop = threading.Event()
        self._stop_requested = threading.Event()
        #: Stop signals received; written only by the signal handler (see ``_on_signal``).
        self._signals = 0
        self._started = False
        self._stopped = threading.Event()
        self._shutdown_lock = threading.Lock()
        self._shutting_down = False
        self._finished = True
        self._consumer: threading.Thread | None = None
        self._timers: list[Timer] = []
        self._scheduler: Scheduler | None = None
        self._pool: Pool | None = None
        self._invoker: Invoker | None = None
        self._broker: BaseBroker | None = None
        self._settler: Settler | None = None
        self._consuming_side: Consumer | None = None
        #: ``time.monotonic()`` of the last heartbeat that reached the broker.
        self._heartbeat_ok_at: float | None = None
        self.info = WorkerInfo(
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
        return self._holdings.snapshot()

    def start(self) -> None:
        """Wait for the broker, then start consuming on background threads and return.

        Returns without starting anything when a stop comes while the broker is still
        unreachable (see ``worker/startup.py``).

        Raises:
            BrokerUnavailable: the broker stayed unreachable for ``connect_timeout`` seconds.
        """
        if self._started:
            raise RuntimeError("a Worker can be started once")
        self._started = True
        broker = wait_for_broker(
            self.app,
            self.queues,
            stop_requested=lambda: bool(self._signals) or self._shutting_down,
            connect_timeout=self.connect_timeout,
        )
        if broker is None:
            return
        with self._shutdown_lock:
            # Under the lock: a stop() arriving now waits until everything below exists.
            if self._shutting_down:
                return
            self._launch(broker)
        notify("taskq_worker_started", worker=self.info)

    def _launch(self, broker: BaseBroker) -> None:
        """Log the banner, then build the settler, consumer, pool and timers, and start them."""
        logging.getLogger(BANNER_LOGGER).info("%s", banner(self, self.info.version))
        self._broker = broker
        invoker: Invoker = (
            ProcessInvoker(self.app_spec, self.app.reveal_broker_url(), self.recycling)
            if self.pool_name == "processes" and self.app_spec is not None
            else InProcessInvoker()
        )
        self._invoker = invoker
        holdings = self._holdings
        self._settler = Settler(
            broker,
            holdings.settled,
            name=f"taskq-{self.id}-settler",
            lease_deadline=self._lease_deadline,
            link=self._link,
        )
        consumer = self._consuming_side = Consumer(
            broker,
            holdings,
            self._stopping,
            worker_id=self.id,
            queues=self.queue_order.next,
            slots=lambda: self.concurrency + self._prefetch.current(),
            lease=self.visibility_timeout,
            block_timeout=self.block_timeout,
        )
        runner = DeliveryRunner(
            self.app,
            broker,
            settling=holdings.mark_settling,
            invoker=self._invoker,
            settler=self._settler,
            patience=self._settle_patiently,
        )

        def execute(delivery: Delivery) -> None:
            started = time.perf_counter()
            try:
                outcome = runner.run(delivery)
                self._prefetch.observe(time.perf_counter() - started)
            except Exception as exc:
                # The broker failed while settling; the lease will bring the message back.
                log.error(
                    "could not settle %s (%s); its lease will return it", delivery.id, one_line(exc)
                )
                log.debug("settle failure", exc_info=True)
                outcome = "error"
            if outcome != PENDING:
                holdings.settled([(delivery, outcome)])

        prefix = f"taskq-{self.id}"
        if self.pool_name == "solo":
            self._pool = SoloPool(execute)
        elif self.pool_name == "threads":
            # The pool's threads take turns at consuming (see ThreadPool): no consumer thread.
            self._pool = ThreadPool(
                self.concurrency, execute, thread_prefix=prefix, consume=consumer.reserve_batch
            )
        else:
            self._pool = ThreadPool(self.concurrency, execute, thread_prefix=prefix)
        queues, stop = self.queues, self._upkeep_stop
        self._timers = [
            Timer("heartbeat", self.heartbeat_interval, self._heartbeat, stop, warn_starved=True),
            Timer(
                "schedule-poll",
                self.schedule_poll_interval,
                lambda: poll_schedules(broker, queues),
                stop,
            ),
            Timer(
                "reaper",
                self.reaper_interval,
                lambda: reap(
                    broker, queues, self.worker_timeout, self.app.result_ttl, reaper=self.id
                ),
                stop,
            ),
        ]
        for timer in self._timers:
            timer.start()
        if isinstance(broker, Revocation):
            TerminationListener(broker, self.id, queues, invoker.stoppers, stop).start()
        if self.scheduler and self.app.periodic_schedules:
            schedules = list(self.app.periodic_schedules.values())
            self._scheduler = Scheduler(self.app, schedules, self._stopping)
            self._scheduler.start()
        if self.pool_name != "threads":
            self._consumer = threading.Thread(
                target=consumer.run, args=(self._pool,), name="taskq-consumer", daemon=True
            )
            self._consumer.start()

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
        try:
            self.start()
            while not self._signals and not self._stop_requested.wait(SIGNAL_CHECK_INTERVAL):
                pass
            if self._signals and self._pool is not None:
                log.info("stop signal: finishing running tasks (again to stop now)")
            self._shutdown("signal" if self._signals else "stop()", self.shutdown_grace)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def liveness(self) -> Liveness:
        """The worker's vital signs for health checks (thread-safe, no broker call)."""
        if self._consumer is not None:
            consuming = self._consumer.is_alive()
        else:
            consuming = isinstance(self._pool, ThreadPool) and self._pool.alive()
        heartbeat = next((timer for timer in self._timers if timer.name == "heartbeat"), None)
        last_ok = self._heartbeat_ok_at
        return Liveness(
            consuming=consuming and self._started and not self._stopping.is_set(),
            heartbeating=heartbeat is not None and heartbeat.alive(),
            heartbeat_age=None if last_ok is None else time.monotonic() - last_ok,
            heartbeat_interval=self.heartbeat_interval,
        )

    def wait_stopped(self, timeout: float | None = None) -> bool:
        """Block until the worker has shut down; True if it did within ``timeout``."""
        return self._stopped.wait(timeout)

    # -- signals and shutdown --------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Python runs this on the main thread between two bytecodes, possibly while that thread
        # holds the lock of an Event or of logging; setting an Event here can deadlock. So it only
        # counts, and the main thread's timed waits in run() and _shutdown() act on the count.
        self._signals += 1

    def _stop_now(self) -> bool:
        """True once a second stop signal asked to skip the rest of the grace period."""
        return self._signals > 1

    def _shutdown(self, reason: str, grace: float) -> bool:
        """Shut down once; a concurrent caller (stop() during run()) waits for that one."""
        with self._shutdown_lock:
            first = not self._shutting_down
            self._shutting_down = True
        if not first:
            self._stopped.wait()
            return self._finished
        try:
            self._finished = self._shutdown_once(reason, grace)
        finally:
            self._stopped.set()
        return self._finished

    def _shutdown_once(self, reason: str, grace: float) -> bool:
        if self._pool is None:  # not started, or stopped while waiting for the broker
            self._stop_requested.set()
            return True
        notify("taskq_worker_stopping", worker=self.info, reason=reason)
        self._stopping.set()
        self._stop_requested.set()
        broker = self._broker
        assert broker is not None
        assert self._pool is not None
        broker.interrupt()
        self._holdings.wake()
        # One grace period for the whole drain. A solo pool runs tasks on the consumer thread, so
        # joining it is part of the grace, and a second signal must cut that join short too.
        deadline = time.monotonic() + grace
        while self._consuming() and not self._stop_now():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if self._consumer is not None:
                self._consumer.join(min(remaining, 0.1))
            else:
                self._holdings.wake(min(remaining, 0.1))
        assert self._consuming_side is not None
        self._consuming_side.release(self._pool.take_pending())
        finished = self._holdings.wait_empty(deadline, self._stop_now)
        self._upkeep_stop.set()
        for timer in self._timers:
            timer.join(timeout=5)
        if self._scheduler is not None:
            self._scheduler.join(timeout=5)
        self._pool.close(timeout=0 if not finished else 1)
        if self._settler is not None:
            self._settler.close(timeout=SETTLER_CLOSE_TIMEOUT)
        if self._invoker is not None:
            self._invoker.close()
        try:
            if isinstance(broker, WorkerRegistry):
                broker.forget_worker(self.info)
        except Exception as exc:
            log.warning("could not unregister worker: %s", exc)
        log.info("worker %s stopped (%s)", self.id, dict(self.stats))
        return finished

    # -- consumer --------------------------------------------------------------------------------

    def _consuming(self) -> bool:
        """Whether a reserve may still be under way (then it may still hand out deliveries)."""
        if self._consumer is not None:
            return self._consumer.is_alive()
        return self._holdings.reserving()

    # -- timers ----------------------------------------------------------------------------------

    def _lease_deadline(self, delivery: Delivery) -> float:
        """``time.monotonic()`` until which ``delivery``'s lease surely runs."""
        return self._holdings.renewed_at(delivery) + self.visibility_timeout

    def _settle_patiently(self, delivery: Delivery, call: Callable[[], bool]) -> bool:
        """Run a settling call, trying again while the broker is out and the lease lasts."""
        return patiently(
            call,
            until=lambda: self._lease_deadline(delivery),
            link=self._link,
            what=delivery.id,
        )

    def _heartbeat(self) -> None:
        assert self._broker is not None
        renewed = self._holdings.renewable()
        self.info = self.info.model_copy(update={"in_flight": len(renewed)})
        try:
            if isinstance(self._broker, WorkerRegistry):
                self._broker.send_heartbeat(self.info)
        except BrokerUnavailable:
            self._link.failed()
            raise
        self._link.succeeded()
        if renewed:
            sent = time.monotonic()
            kept = self._broker.extend_lease(renewed, lease=self.visibility_timeout)
            self._holdings.renewed(renewed, kept, sent)
            for delivery in self._holdings.lost(renewed, kept):
                log.warning("lease of %s was lost; its result will be refused", delivery.id)
        self._heartbeat_ok_at = time.monotonic()
        notify("taskq_worker_heartbeat", worker=self.info)


def _version() -> str:
    from taskq_core import __version__

    return __version__

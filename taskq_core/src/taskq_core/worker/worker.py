"""The worker: reserve -> execute -> settle, plus heartbeat, schedule poll and reaper timers.

Threads (as in the seed design):

* the consumer reserves batches, blocking in the broker (never sleep-polling) while idle, and only
  when the pool has a free slot (+ ``prefetch`` reserved ahead); in the ``threads`` pool the
  pool's threads take turns at it, and the one that reserved runs the first delivery itself
  (see ``ThreadPool``), elsewhere it is a thread of its own;
* the pool runs deliveries (``threads``, ``processes`` or ``solo``);
* the settler acks succeeded deliveries in batches (``settler.py``);
* timers: heartbeat (liveness + renewal of the leases of everything held, running or prefetched),
  schedule poll (backstop promotion of due ETAs) and reaper (dead workers, expired leases).

Shutdown: the first SIGTERM/SIGINT (or ``stop()``) stops reserving, releases prefetched deliveries
back to READY, and lets running tasks finish within ``shutdown_grace`` seconds while heartbeats
keep their leases alive. A second signal stops at once; leases bring unfinished work back.
"""

from __future__ import annotations

import collections
import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING

from taskq_core.app import app_spec_of, import_app
from taskq_core.broker import as_queue_list
from taskq_core.errors import ConfigurationError
from taskq_core.plugins import notify
from taskq_core.schemas import TaskResult, WorkerInfo
from taskq_core.worker.execute import PENDING, DeliveryRunner
from taskq_core.worker.invoke import InProcessInvoker, Invoker
from taskq_core.worker.pools import Pool, SoloPool, ThreadPool
from taskq_core.worker.prefetch import Prefetch
from taskq_core.worker.processes import ProcessInvoker
from taskq_core.worker.queues import QueueOrder, parse_queue_specs
from taskq_core.worker.settler import Settler
from taskq_core.worker.upkeep import Timer

if TYPE_CHECKING:
    from taskq_core.app import Taskq
    from taskq_core.broker import BaseBroker
    from taskq_core.schemas import Delivery

log = logging.getLogger("taskq.worker")

POOLS = ("threads", "processes", "solo")
#: Longest a consumer blocks in one reserve call; bounds how stale a blocked connection can get.
DEFAULT_BLOCK_TIMEOUT = 5.0
#: First and longest pause between reserve attempts while the broker is unreachable.
INITIAL_ERROR_BACKOFF = 0.1
MAX_ERROR_BACKOFF = 5.0
#: Longest the main thread blocks in one wait during ``run()``, in seconds. A signal the kernel
#: delivers to another thread runs its Python handler only when the main thread next checks for
#: signals, which a wait without a timeout never does: the signal would be lost.
SIGNAL_CHECK_INTERVAL = 0.2
#: Longest shutdown waits for the last coalesced acks, in seconds (one round trip, or the
#: broker's own retries when Redis is down: ~3 s).
SETTLER_CLOSE_TIMEOUT = 10.0


class Worker:
    """Consumes queues of one app.

    Args:
        app: The app whose tasks this worker runs (and whose broker it uses).
        name: Worker id in heartbeats and leases; default ``host:pid:random``. Must be unique.
        queues: Queues to consume, in priority order; default: every queue the app sends to.
            ``"name:weight"`` entries switch to weighted order (see ``worker/queues.py``).
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
            expired at once; default four heartbeats.
        shutdown_grace: Seconds running tasks get to finish after the first stop signal.
        block_timeout: Longest single blocking reserve, in seconds.
        app_spec: ``module:attribute`` the ``processes`` pool's children import the app from;
            found automatically when the app is a module attribute.
    """

    def __init__(
        self,
        app: Taskq,
        *,
        name: str | None = None,
        queues: str | Sequence[str] | None = None,
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
        self._order = QueueOrder(self.queues, weights)
        if not self.queues:
            raise ConfigurationError("a worker needs at least one queue to consume")
        self.concurrency = 1 if pool == "solo" else concurrency
        self.pool_name = pool
        if prefetch is not None and prefetch < 0:
            raise ConfigurationError("prefetch must be >= 0")
        self._prefetch = Prefetch(self.concurrency, prefetch)
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
        if pool == "processes":
            self.app_spec = app_spec or app_spec_of(app)
            if self.app_spec is None or not _same_app(self.app_spec, app):
                raise ConfigurationError(
                    "the processes pool needs the app importable as module:attribute "
                    f"(found {self.app_spec!r}); define it at module level or pass app_spec="
                )

        self.stats: collections.Counter[str] = collections.Counter()
        self._held: dict[str, Delivery] = {}
        #: (id, token) of held deliveries whose task ended and whose ack/retry/dead is on its way.
        self._settling: set[tuple[str, int]] = set()
        self._capacity = threading.Condition()
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
        #: Reserves under way (threads pool: its threads take turns at reserving).
        self._reserving = 0
        self._backoff = INITIAL_ERROR_BACKOFF
        self._timers: list[Timer] = []
        self._pool: Pool | None = None
        self._invoker: Invoker | None = None
        self._broker: BaseBroker | None = None
        self._settler: Settler | None = None
        self.info = WorkerInfo(
            worker_id=self.id,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            queues=tuple(self.queues),
            concurrency=self.concurrency,
            pool=pool,
            started_at=time.time(),
            version=_version(),
        )

    def __repr__(self) -> str:
        return f"<Worker {self.id} queues={','.join(self.queues)} pool={self.pool_name}>"

    # -- public API ------------------------------------------------------------------------------

    @property
    def held(self) -> list[Delivery]:
        """Deliveries this worker holds right now (running or prefetched)."""
        with self._capacity:
            return list(self._held.values())

    def start(self) -> None:
        """Start consuming on background threads and return."""
        if self._started:
            raise RuntimeError("a Worker can be started once")
        self._started = True
        broker = self._broker = self.app.broker
        for queue in self.queues:
            if queue in self.app.queue_limits:
                broker.set_queue_limit(queue, max_in_flight=self.app.queue_limits[queue])
        self._invoker = (
            ProcessInvoker(self.app_spec)
            if self.pool_name == "processes" and self.app_spec is not None
            else InProcessInvoker()
        )
        self._settler = Settler(broker, self._settled, name=f"taskq-{self.id}-settler")
        runner = DeliveryRunner(
            self.app,
            broker,
            settling=self._mark_settling,
            invoker=self._invoker,
            settler=self._settler,
        )

        def execute(delivery: Delivery) -> None:
            started = time.perf_counter()
            try:
                outcome = runner.run(delivery)
                self._prefetch.observe(time.perf_counter() - started)
            except Exception:
                # The broker failed while settling; the lease will bring the message back.
                log.exception("could not settle %s; its lease will return it", delivery.id)
                outcome = "error"
            if outcome != PENDING:
                self._settled([(delivery, outcome)])

        prefix = f"taskq-{self.id}"
        if self.pool_name == "solo":
            self._pool = SoloPool(execute)
        elif self.pool_name == "threads":
            # The pool's threads take turns at consuming (see ThreadPool): no consumer thread.
            self._pool = ThreadPool(
                self.concurrency, execute, thread_prefix=prefix, consume=self._reserve_batch
            )
        else:
            self._pool = ThreadPool(self.concurrency, execute, thread_prefix=prefix)
        self._timers = [
            Timer("heartbeat", self.heartbeat_interval, self._heartbeat, self._upkeep_stop),
            Timer("schedule-poll", self.schedule_poll_interval, self._poll, self._upkeep_stop),
            Timer("reaper", self.reaper_interval, self._reap, self._upkeep_stop),
        ]
        for timer in self._timers:
            timer.start()
        if self.pool_name != "threads":
            self._consumer = threading.Thread(
                target=self._consume, name="taskq-consumer", daemon=True
            )
            self._consumer.start()
        log.info(
            "worker %s consuming %s (%s x%d)",
            self.id,
            self.queues,
            self.pool_name,
            self.concurrency,
        )
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
        try:
            self.start()
            while not self._signals and not self._stop_requested.wait(SIGNAL_CHECK_INTERVAL):
                pass
            if self._signals:
                log.info("stop signal: finishing running tasks (again to stop now)")
            self._shutdown("signal" if self._signals else "stop()", self.shutdown_grace)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

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
        if not self._started:
            return True
        notify("taskq_worker_stopping", worker=self.info, reason=reason)
        self._stopping.set()
        self._stop_requested.set()
        broker = self._broker
        assert broker is not None
        assert self._pool is not None
        broker.interrupt()
        with self._capacity:
            self._capacity.notify_all()
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
                with self._capacity:
                    self._capacity.wait(min(remaining, 0.1))
        self._release(self._pool.take_pending())
        finished = self._wait_running(deadline)
        self._upkeep_stop.set()
        for timer in self._timers:
            timer.join(timeout=5)
        self._pool.close(timeout=0 if not finished else 1)
        if self._settler is not None:
            self._settler.close(timeout=SETTLER_CLOSE_TIMEOUT)
        if self._invoker is not None:
            self._invoker.close()
        try:
            broker.forget_worker(self.info)
        except Exception as exc:
            log.warning("could not unregister worker: %s", exc)
        log.info("worker %s stopped (%s)", self.id, dict(self.stats))
        return finished

    def _wait_running(self, deadline: float) -> bool:
        with self._capacity:
            while self._held:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stop_now():
                    log.warning(
                        "%d task(s) still running at shutdown%s; their leases will return them",
                        len(self._held),
                        " (second signal)" if self._stop_now() else "",
                    )
                    return False
                self._capacity.wait(min(remaining, 0.5))
        return True

    def _release(self, deliveries: list[Delivery]) -> None:
        if not deliveries:
            return
        assert self._broker is not None
        try:
            released = self._broker.release(deliveries)
            log.info("released %d prefetched deliveries back to READY", released)
        except Exception as exc:
            log.warning(
                "could not release prefetched deliveries (%s); leases will return them", exc
            )
        with self._capacity:
            for delivery in deliveries:
                self._held.pop(delivery.id, None)
            self._capacity.notify_all()

    # -- consumer --------------------------------------------------------------------------------

    def _free_slots(self) -> int:
        """Wait for room to reserve into; 0 means shutting down."""
        limit = self.concurrency + self._prefetch.current()
        with self._capacity:
            while len(self._held) >= limit and not self._stopping.is_set():
                self._capacity.wait()
            return 0 if self._stopping.is_set() else limit - len(self._held)

    def _consuming(self) -> bool:
        """Whether a reserve may still be under way (then it may still hand out deliveries)."""
        if self._consumer is not None:
            return self._consumer.is_alive()
        with self._capacity:
            return self._reserving > 0

    def _consume(self) -> None:
        """The consumer thread of the solo and processes pools."""
        assert self._pool is not None
        while (deliveries := self._reserve_batch()) is not None:
            for index, delivery in enumerate(deliveries):
                if self._stopping.is_set():
                    self._release(deliveries[index:])
                    break
                self._pool.submit(delivery)

    def _reserve_batch(self) -> list[Delivery] | None:
        """Reserve for the free slots, blocking while idle; ``None`` once stopping.

        The deliveries are held when returned. Reserved as the worker stops, they are released
        back to READY instead.
        """
        assert self._broker is not None
        with self._capacity:
            if self._stopping.is_set():
                return None
            self._reserving += 1
        try:
            while not self._stopping.is_set():
                free = self._free_slots()
                if not free:
                    break
                try:
                    deliveries = self._broker.reserve(
                        self._order.next(),
                        worker_id=self.id,
                        lease=self.visibility_timeout,
                        limit=free,
                        timeout=self.block_timeout,
                    )
                except Exception as exc:
                    log.warning("reserve failed: %s; retrying in %.1fs", exc, self._backoff)
                    self._stopping.wait(self._backoff)
                    self._backoff = min(self._backoff * 2, MAX_ERROR_BACKOFF)
                    continue
                self._backoff = INITIAL_ERROR_BACKOFF
                if not deliveries:
                    continue
                with self._capacity:
                    for delivery in deliveries:
                        self._held[delivery.id] = delivery
                if self._stopping.is_set():
                    self._release(deliveries)
                    break
                return deliveries
            return None
        finally:
            with self._capacity:
                self._reserving -= 1
                self._capacity.notify_all()

    def _settled(self, outcomes: list[tuple[Delivery, str]]) -> None:
        """Deliveries whose settlement was answered: free their slots."""
        with self._capacity:
            for delivery, outcome in outcomes:
                self.stats[outcome] += 1
                self._held.pop(delivery.id, None)
                self._settling.discard((delivery.id, delivery.token))
            self._capacity.notify_all()

    def _mark_settling(self, delivery: Delivery) -> None:
        with self._capacity:
            self._settling.add((delivery.id, delivery.token))

    # -- timers ----------------------------------------------------------------------------------

    def _heartbeat(self) -> None:
        assert self._broker is not None
        self._broker.send_heartbeat(self.info)
        # Deliveries being settled are left alone: their ack/retry/dead is on its way, and one
        # abandoned after its process died has just had its lease expired on purpose.
        with self._capacity:
            held = [
                delivery
                for delivery in self._held.values()
                if (delivery.id, delivery.token) not in self._settling
            ]
        if held:
            kept = self._broker.extend_lease(held, lease=self.visibility_timeout)
            # A delivery acked (or retried, buried) since the snapshot is not held any more
            # either; only one still held and not being settled has really lost its lease.
            with self._capacity:
                lost = [
                    delivery
                    for delivery, ok in zip(held, kept, strict=True)
                    if not ok
                    and self._held.get(delivery.id) is delivery
                    and (delivery.id, delivery.token) not in self._settling
                ]
            for delivery in lost:
                log.warning("lease of %s was lost; its result will be refused", delivery.id)
        notify("taskq_worker_heartbeat", worker=self.info)

    def _poll(self) -> None:
        assert self._broker is not None
        for queue in self.queues:
            self._broker.poll_schedule(queue)

    def _reap(self) -> None:
        assert self._broker is not None
        for queue in self.queues:
            dead = self._broker.expire_dead_workers(queue, within=self.worker_timeout)
            if dead:
                log.warning("workers %s stopped heartbeating; expiring their leases", dead)
            report = self._broker.recover_expired(queue)
            if report:
                log.warning(
                    "recovered %d expired leases in %s (%d to DEAD)",
                    len(report.requeued) + len(report.dead),
                    queue,
                    len(report.dead),
                )
                self._record_lost(report.dead)
                notify("taskq_leases_recovered", queue=queue, report=report)

    def _record_lost(self, ids: Sequence[str]) -> None:
        """Store a FAILURE result for messages the reaper buried, so waiters do not hang."""
        assert self._broker is not None
        for message_id in ids:
            self._broker.store_result(
                TaskResult(
                    id=message_id,
                    status="FAILURE",
                    error_type="LeaseExpired",
                    error_message="its worker was lost too many times (see max_deliveries)",
                    finished_at=time.time(),
                ),
                ttl=self.app.result_ttl,
            )


def _version() -> str:
    from taskq_core import __version__

    return __version__


def _same_app(spec: str, app: Taskq) -> bool:
    """Whether the pool's children will find ``app``'s tasks at ``spec``.

    When ``spec`` names the module running as ``__main__`` (``python -m pkg.mod``), importing it
    here would run it a second time, so only its name is checked; the children import it afresh.
    """
    main = sys.modules.get("__main__")
    main_spec = getattr(main, "__spec__", None)
    if main_spec is not None and spec.partition(":")[0] == main_spec.name:
        return True
    imported = import_app(spec)
    return imported is app or set(imported.tasks) == set(app.tasks)

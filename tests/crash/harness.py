"""Harness of the crash tests: real worker processes against a redis-server this suite starts.

The crash tests kill things for real (SIGKILL and SIGSTOP workers, SIGKILL and restart Redis,
flush its script cache), so they never share a server they did not start: the session's
``private_redis_server`` serves most tests, and a test that restarts the server or measures its
command counts gets one of its own (both from ``tests/support/redis_server.py``).

Each test gets a :class:`Crash` with its own key prefix (``crash-<random>``) and queue, starts
workers (``worker_app.py`` as subprocesses) through it, watches what they record under
``<prefix>:test:`` and ends with :meth:`Crash.check_invariants`. Synchronisation is always a
condition polled with a deadline (:meth:`Crash.wait_until`), never a sleep.
"""

from __future__ import annotations

import collections
import json
import signal
import sys
import uuid
from pathlib import Path

import redis

from taskq_core.schemas import Message, new_message_id
from taskq_redis import RedisBroker
from taskq_redis.keys import queue_keys

from ..support.processes import WorkerProcess
from ..support.redis_server import RedisServer
from ..support.waiting import wait_until
from .invariants import take_snapshot, violations

WORKER_APP = Path(__file__).with_name("worker_app.py")
#: Longest wait for any condition, in seconds; generous, since a miss is a failure anyway.
DEADLINE = 30.0
#: Pause between two looks at a condition, in seconds (each look is a round trip to Redis).
POLL = 0.05
#: Short timings so leases are lost and found within seconds: a 2 s lease renewed every 0.5 s,
#: reaper and schedule poll every 0.5 s, dead-worker detection after 4 missed heartbeats (2 s).
FAST_TIMINGS = {
    "visibility_timeout": 2.0,
    "heartbeat_interval": 0.5,
    "schedule_poll_interval": 0.5,
    "reaper_interval": 0.5,
    "block_timeout": 2.0,
    "shutdown_grace": 5.0,
}


class Crash:
    """One crash test's world: its keys, its workers, and the checks on what they did."""

    def __init__(self, server: RedisServer, queue: str, log_dir: Path) -> None:
        self.server = server
        self.prefix = f"crash-{uuid.uuid4().hex[:8]}"
        self.queue = queue
        self.keys = queue_keys(self.prefix, queue)
        self.test_base = f"{self.prefix}:test"
        self.redis = server.client()
        self.broker = RedisBroker.from_url(server.url, prefix=self.prefix)
        self.log_dir = log_dir
        self.workers: list[WorkerProcess] = []
        self.sent: list[str] = []

    # -- workers ---------------------------------------------------------------------------------

    def start_worker(
        self, *, fast: bool = True, wait_ready: bool = True, record_acks: bool = True, **options
    ) -> WorkerProcess:
        """Start a worker process on the test's queue; wait until it is consuming.

        ``fast`` applies :data:`FAST_TIMINGS` (else the ``Worker`` defaults); ``options`` are
        ``Worker`` arguments (``concurrency``, ``prefetch``, ``visibility_timeout`` ...).
        ``record_acks=False`` leaves out the ``acking``/``ack_calls`` records, whose writes
        wait for Redis before each ack is sent (``worker_app.app_broker``).
        """
        name = f"{self.prefix}-w{len(self.workers) + 1}"
        settings = {**(FAST_TIMINGS if fast else {}), "concurrency": 1, "prefetch": 0, **options}
        # Imported, not run as __main__, so ``worker_app:app`` is this very app (the process
        # pool checks that before its children import it).
        launch = f"import sys, {WORKER_APP.stem}; {WORKER_APP.stem}.main(sys.argv[1:])"
        argv = [sys.executable, "-c", launch]
        for option, value in settings.items():
            if value is not None:
                argv += ["--" + option.replace("_", "-"), str(value)]
        worker = WorkerProcess.start(
            name,
            argv,
            self.log_dir,
            env={
                "TASKQ_CRASH_URL": self.server.url,
                "TASKQ_CRASH_PREFIX": self.prefix,
                "TASKQ_CRASH_QUEUE": self.queue,
                "TASKQ_CRASH_NAME": name,
                "TASKQ_CRASH_RECORD_ACKS": "1" if record_acks else "0",
            },
            cwd=WORKER_APP.parent,  # on sys.path, for the process pool's children too
        )
        self.workers.append(worker)
        if wait_ready:
            self.wait_until(lambda: self.is_ready(worker), what=f"{name} is consuming")
        return worker

    def is_ready(self, worker: WorkerProcess) -> bool:
        if not worker.alive:
            raise AssertionError(f"{worker.name} exited before it was ready\n{worker.log_tail()}")
        member = json.dumps({"pid": worker.pid, "worker": worker.name}, sort_keys=True)
        return bool(self.redis.sismember(f"{self.test_base}:ready", member))

    def stop_workers(self) -> None:
        for worker in self.workers:
            if worker.alive:
                worker.signal(signal.SIGCONT)  # a stopped process cannot die of SIGKILL's reaping
            worker.kill()

    # -- producing -------------------------------------------------------------------------------

    def message(self, task: str, *args, **fields) -> Message:
        """A message for ``task`` in the test's queue, counted as sent (for ``send_batch``)."""
        message = Message.build(task=task, args=args, queue=self.queue, **fields)
        self.sent.append(message.id)
        return message

    def send(self, task: str, *args, countdown: float | None = None, **fields) -> str:
        """Send one message for ``task`` (``crash.work``, ``crash.gated`` ...); returns its id."""
        message = self.message(task, *args, **fields)
        if countdown is None:
            accepted = self.broker.send(message)
        else:
            accepted = self.broker.schedule(message, eta=self.broker.now() + countdown)
        assert accepted, f"send of {message.id} was refused"
        return message.id

    def plant_corrupt(self, payload: str = "\x00 not a message {") -> str:
        """Put garbage in READY behind taskq's back: a payload no decoder accepts."""
        message_id = new_message_id()
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.keys.payloads, message_id, payload)
        pipe.rpush(self.keys.ready_for(0), message_id)
        pipe.zadd(self.keys.marker, {"r": 0})
        pipe.execute()
        self.sent.append(message_id)
        return message_id

    def open_gate(self, worker: WorkerProcess | None = None) -> None:
        """Let ``crash.gated`` tasks finish: on ``worker`` only, or everywhere."""
        suffix = f":{worker.name}" if worker is not None else ""
        self.redis.set(f"{self.test_base}:gate{suffix}", 1)

    # -- observing -------------------------------------------------------------------------------

    def records(self, kind: str) -> list[dict]:
        """What workers recorded: ``started``, ``acked``, ``ack_calls`` or ``ready``."""
        members = self.redis.smembers(f"{self.test_base}:{kind}")
        return sorted((json.loads(m) for m in members), key=lambda r: r.get("token", 0))

    def tally(self, kind: str) -> collections.Counter[str]:
        """Executions (``started``) or successful acks (``acked``) per message id."""
        return collections.Counter(record["id"] for record in self.records(kind))

    def deliveries(self, message_id: str, kind: str = "started") -> list[tuple[int, str]]:
        """``(token, worker)`` of each recorded execution or ack of one message."""
        return [(r["token"], r["worker"]) for r in self.records(kind) if r["id"] == message_id]

    def owner(self, message_id: str) -> tuple[int, str] | None:
        """``(token, worker)`` holding ``message_id`` in PROCESSING, or None."""
        if self.redis.zscore(self.keys.processing, message_id) is None:
            return None
        token, worker = self.redis.hmget(self.keys.state, f"{message_id}:d", f"{message_id}:w")
        return int(token or 0), worker or ""

    def wait_until(self, condition, *, what, timeout=DEADLINE):
        return wait_until(condition, what=what, timeout=timeout, describe=self.describe, poll=POLL)

    def acked(self, ids) -> set[str]:
        """Which of ``ids`` are acked: recorded as acked, or gone after an ack was sent.

        The second kind is an ack that went through in Redis while its worker was killed
        before it could record it (see ``invariants.violations``).
        """
        recorded = set(self.tally("acked"))
        pending = [i for i in ids if i not in recorded]
        if not pending:
            return set(ids)
        sent_ack = {record["id"] for record in self.records("acking")}
        payloads = self.redis.hmget(self.keys.payloads, pending)
        return recorded | {
            i for i, p in zip(pending, payloads, strict=True) if p is None and i in sent_ack
        }

    def wait_all_acked(self, ids=None, *, timeout=DEADLINE) -> None:
        """Wait until every id is acked and each ack by a live worker is also recorded.

        A live worker records ``acked`` just after its ack went through, so a test that reads
        the ``acked`` records next would race that write; only a killed worker's ack stays
        unrecorded for good.
        """
        ids = list(self.sent if ids is None else ids)
        self.wait_until(
            lambda: len(self.acked(ids)) == len(set(ids)) and not self._unrecorded_by_live(ids),
            what=f"all {len(ids)} messages are acked",
            timeout=timeout,
        )

    def _unrecorded_by_live(self, ids) -> set[str]:
        """Ids whose latest ack came from a worker still alive that has not recorded it yet."""
        recorded = set(self.tally("acked"))
        live = {worker.name for worker in self.workers if worker.alive}
        latest: dict[str, dict] = {}
        for record in self.records("acking"):  # sorted by token: the last one per id wins
            latest[record["id"]] = record
        wanted = set(ids)
        return {
            message_id
            for message_id, record in latest.items()
            if message_id in wanted and message_id not in recorded and record["worker"] in live
        }

    def describe(self) -> str:
        """The state of the world, for failure messages."""
        try:
            lines = [
                f"prefix {self.prefix} queue {self.queue}",
                f"counts {self.broker.counts(self.queue)!r}",
                f"started {dict(self.tally('started'))}",
                f"acked {dict(self.tally('acked'))}",
            ]
        except redis.RedisError as exc:
            lines = [f"(Redis unreadable: {exc})"]
        return "\n".join([*lines, *(w.log_tail() for w in self.workers)])

    # -- the invariant checker (invariants.py) -------------------------------------------------

    def check_invariants(self, ids=None) -> dict[str, str]:
        """Assert the queue's state machine holds for ``ids`` (default: everything sent).

        See :func:`invariants.violations` for what is checked. Call it when nothing is between
        an ack and its record (workers idle, stopped or dead). Returns where each id is:
        ``ready``, ``scheduled``, ``processing``, ``dead`` or ``acked``.
        """
        snapshot = take_snapshot(self.redis, self.keys, self.prefix, self.test_base)
        problems, where = violations(snapshot, list(self.sent if ids is None else ids), self.sent)
        assert not problems, "invariants broken:\n" + "\n".join(problems) + "\n" + self.describe()
        return where

    # -- cleanup ---------------------------------------------------------------------------------

    def close(self) -> None:
        self.stop_workers()
        try:
            keys = list(self.redis.scan_iter(match=f"{self.prefix}:*", count=1000))
            if keys:
                self.redis.unlink(*keys)
        finally:
            self.broker.close()
            self.redis.close()

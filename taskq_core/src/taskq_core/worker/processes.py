"""The process pool: each execution slot is a worker thread that drives one child process.

Why threads driving children instead of ``multiprocessing.Pool``: the parent must keep heartbeats
and leases going while a child runs, notice at once when a child dies (segfault, ``os._exit``, OOM
kill) without losing the rest of the pool, and kill exactly one child when its task passes its hard
time limit. A pipe per child gives all three: ``poll(timeout)`` is the time limit, EOF is the death.

Children are fresh interpreters (no fork of a threaded parent) that import the app from its
``module:attribute`` path, so they register the same tasks, and point it at the worker's broker
URL (``--broker`` included), so a task that sends tasks sends them where the worker consumes.
The task's retry policy is evaluated in the child, where the exception object lives; only plain
data crosses the pipe. A child dies with the worker process (``lifeline.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import inspect
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from types import FrameType
from typing import TYPE_CHECKING, Any

from taskq_core.errors import Retry, SoftTimeLimitExceeded, TaskTerminated, TimeLimitExceeded
from taskq_core.execution import execute
from taskq_core.schemas import Delivery, tuples_to_lists
from taskq_core.worker.failures import ChildLost, RemoteFailure, UnsendableValue, format_traceback
from taskq_core.worker.lifeline import Lifeline, hold, lifeline_args
from taskq_core.worker.recycling import Recycling, resident_kib
from taskq_core.worker.revocation import Stoppers

if TYPE_CHECKING:
    from taskq_core.app import Taskq
    from taskq_core.task import Task

log = logging.getLogger("taskq.worker")

#: Seconds a new child may take to start and import the app.
CHILD_START_TIMEOUT = 60.0


class Ended(enum.StrEnum):
    """How a task ended in the child, the first field of the child's reply."""

    #: It returned; the value follows.
    RETURNED = "ok"
    #: It raised; the failure's plain fields follow (see ``RemoteFailure``).
    RAISED = "error"


def _raise_soft_limit(signum: int, frame: FrameType | None) -> None:
    raise SoftTimeLimitExceeded("soft time limit exceeded")


def _failure(
    exc: BaseException, retryable: bool, delay: float | None, requested: bool
) -> tuple[Any, ...]:
    return (
        Ended.RAISED,
        type(exc).__name__,
        str(exc),
        format_traceback(exc),
        retryable,
        delay,
        requested,
    )


def _run_in_child(app: Taskq, delivery: Delivery, soft_limit: float | None) -> tuple[Any, ...]:
    task: Task[..., Any] | None = app.tasks.get(delivery.message.task)
    if task is None:
        missing = f"task {delivery.message.task!r} is not registered in the child"
        return (Ended.RAISED, "UnknownTask", missing, "", False, None, False)
    if soft_limit:
        signal.setitimer(signal.ITIMER_REAL, soft_limit)
    try:
        result = execute(delivery, task)
        if inspect.iscoroutine(result):
            result = asyncio.run(result)
        try:
            json.dumps(tuples_to_lists(result), allow_nan=False)
        except (TypeError, ValueError):
            return (Ended.RETURNED, UnsendableValue(type(result).__name__))
        return (Ended.RETURNED, result)
    except Retry as request:
        return _failure(request, True, request.delay, True)
    except BaseException as exc:
        return _failure(exc, task.policy.retries_exception(exc), None, False)
    finally:
        if soft_limit:
            signal.setitimer(signal.ITIMER_REAL, 0)


def child_main(conn: Connection, app_spec: str) -> None:
    """Run deliveries sent over ``conn`` until it closes (the body of a pool child).

    The first message is the worker's broker URL (``None``: keep the app's own broker), sent
    over the socket rather than the command line, where any local user could read a password.
    """
    from taskq_core.app import import_app
    from taskq_core.monitoring.logs import configure_from_env

    configure_from_env()  # log as the worker does (--log-format), tagged with the running task
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when children stop
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGALRM, _raise_soft_limit)
    broker_url = conn.recv()
    app = import_app(app_spec)
    if broker_url is not None and broker_url != app.reveal_broker_url():
        app.close()
        app.use_broker(broker_url)
    conn.send(("ready", os.getpid()))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        payload, soft_limit, measure = job
        reply = _run_in_child(app, Delivery.model_validate_json(payload), soft_limit)
        conn.send((reply, resident_kib() if measure else None))


def _child_entry() -> None:
    """``python -c`` entry of a child: argv holds the socket's fd, the app spec and the lifeline."""
    (fd, app_spec), lifeline_fd, parent_pid = lifeline_args(sys.argv[1:])
    hold(lifeline_fd, parent_pid)
    child_main(Connection(int(fd)), app_spec)


class ChildSlot:
    """One child process and the socket to it; used by exactly one pool thread.

    The child is a fresh interpreter started with ``subprocess`` rather than ``multiprocessing``:
    the latter re-imports the parent's ``__main__`` in every child, which runs a producer script
    again when the worker was started from one.
    """

    def __init__(
        self,
        app_spec: str,
        broker_url: str | None,
        lifeline: Lifeline,
        recycling: Recycling | None = None,
    ) -> None:
        self.app_spec = app_spec
        self.broker_url = broker_url
        self._lifeline = lifeline
        self._recycling = recycling or Recycling()
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        #: Tasks the current child ran (recycling counts them).
        self._tasks_run = 0
        #: Set by :meth:`kill` (another thread): the child's death is a termination.
        self._killed = threading.Event()

    def _ensure_child(self) -> Connection:
        if self._process is not None and self._process.poll() is None and self._conn is not None:
            return self._conn
        self._discard()
        ours, theirs = socket.socketpair()
        entry = "from taskq_core.worker.processes import _child_entry; _child_entry()"
        try:
            process = self._lifeline.start(
                [sys.executable, "-c", entry, str(theirs.fileno()), self.app_spec],
                pass_fds=(theirs.fileno(),),
            )
        finally:
            theirs.close()
        self._process, self._conn = process, Connection(ours.detach())
        self._tasks_run = 0
        with contextlib.suppress(OSError):  # a child that died at once is reported below
            self._conn.send(self.broker_url)
        # Wait for the child to import the app, so its start-up never counts against a task's
        # time limit. (The worker checked at start that the app imports; a child that still
        # fails here is treated like one that died mid-task.)
        if not self._conn.poll(CHILD_START_TIMEOUT):
            self._discard()
            raise ChildLost(f"child process did not start within {CHILD_START_TIMEOUT:g}s")
        try:
            self._conn.recv()
        except (EOFError, OSError):
            code = self._process.wait(timeout=5)
            self._discard()
            raise ChildLost(
                f"child process exited while importing {self.app_spec!r} (exit code {code})"
            ) from None
        return self._conn

    def _discard(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait(timeout=5)
        self._process = self._conn = None

    def kill(self) -> None:
        """Kill the child now (a revoked task); :meth:`call` then raises ``TaskTerminated``.

        Called from another thread; the pool thread in :meth:`call` sees the child's end of
        the socket close and replaces the child on its next call.
        """
        self._killed.set()
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()

    def forget_kill(self) -> None:
        """The task :meth:`kill` was meant for has left; the next one starts unkilled."""
        self._killed.clear()

    def call(
        self, delivery: Delivery, *, time_limit: float | None, soft_limit: float | None
    ) -> Any:
        """Run ``delivery`` in the child and return its result.

        Raises:
            RemoteFailure: the task raised.
            TimeLimitExceeded: no answer within ``time_limit``; the child was killed.
            ChildLost: the child died while running the task.
            TaskTerminated: :meth:`kill` killed the child (the task was revoked).
        """
        conn = self._ensure_child()
        if self._killed.is_set():  # revoked while the child was starting: never send it
            raise TaskTerminated(f"task {delivery.id} was revoked before it started")
        try:
            conn.send((delivery.model_dump_json(), soft_limit, self._recycling.measures_memory))
        except OSError:
            self._discard()
            raise ChildLost(f"child process died before running {delivery.id}") from None
        if not conn.poll(time_limit):
            pid = self._process.pid if self._process else None
            self._discard()
            raise TimeLimitExceeded(f"time limit ({time_limit:g}s) exceeded; child {pid} killed")
        try:
            reply = conn.recv()
        except (EOFError, OSError):
            code = self._process.wait(timeout=5) if self._process else None
            self._discard()
            if self._killed.is_set():
                raise TaskTerminated(f"task {delivery.id} was revoked; child killed") from None
            raise ChildLost(
                f"child process died running {delivery.id} (exit code {code})"
            ) from None
        reply, rss_kib = reply
        self._tasks_run += 1
        self._recycle_if_due(rss_kib)
        if reply[0] == Ended.RETURNED:
            return reply[1]
        _, error_type, message, trace, retryable, delay, requested = reply
        raise RemoteFailure(error_type, message, trace, retryable, delay, requested)

    def _recycle_if_due(self, rss_kib: int | None) -> None:
        """Stop the child when a recycling limit is reached; the next task starts a new one."""
        reason = self._recycling.reason(self._tasks_run, rss_kib)
        if reason is not None:
            pid = self._process.pid if self._process else None
            log.info("replacing pool child %s: %s", pid, reason)
            self.close()

    def close(self) -> None:
        """Ask the child to exit, then make sure it did."""
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.send(None)
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=2)
        self._discard()


class ProcessInvoker:
    """Runs each delivery in the calling pool thread's own child process.

    Args:
        app_spec: ``module:attribute`` the children import the app from.
        broker_url: The worker's broker URL, which the children's app uses instead of the one its
            module gives it; ``None`` (an app given a broker object) keeps the module's broker.
        recycling: When a child is replaced between two tasks (``worker/recycling.py``).
    """

    def __init__(
        self, app_spec: str, broker_url: str | None = None, recycling: Recycling | None = None
    ) -> None:
        self.app_spec = app_spec
        self.broker_url = broker_url
        self.recycling = recycling or Recycling()
        self._local = threading.local()
        self._slots: list[ChildSlot] = []
        self._lock = threading.Lock()
        self._lifeline = Lifeline()
        self.stoppers = Stoppers()

    def __call__(self, delivery: Delivery, task: Task[..., Any]) -> Any:
        """Run ``delivery`` in this thread's child, starting the child on first use."""
        slot: ChildSlot | None = getattr(self._local, "slot", None)
        if slot is None:
            slot = ChildSlot(self.app_spec, self.broker_url, self._lifeline, self.recycling)
            self._local.slot = slot
            with self._lock:
                self._slots.append(slot)
        try:
            self.stoppers.enter(delivery.id, slot.kill)
            return slot.call(delivery, time_limit=task.time_limit, soft_limit=task.soft_time_limit)
        finally:
            # After leave no kill can come for this delivery, so the flag can be reset.
            self.stoppers.leave(delivery.id)
            slot.forget_kill()

    def close(self) -> None:
        """Stop every child."""
        with self._lock:
            slots, self._slots = self._slots, []
        for slot in slots:
            slot.close()
        self._lifeline.close()
        log.debug("process pool of %d closed (parent %d)", len(slots), os.getpid())


def same_app(spec: str, app: Taskq) -> bool:
    """Whether the pool's children will find ``app``'s tasks at ``spec``.

    When ``spec`` names the module running as ``__main__`` (``python -m pkg.mod``), importing it
    here would run it a second time, so only its name is checked; the children import it afresh.
    """
    main = sys.modules.get("__main__")
    main_spec = getattr(main, "__spec__", None)
    if main_spec is not None and spec.partition(":")[0] == main_spec.name:
        return True
    from taskq_core.app import import_app

    imported = import_app(spec)
    return imported is app or set(imported.tasks) == set(app.tasks)

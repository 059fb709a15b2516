"""Hooks: a small metrics plugin, a wrapper around every task call, and a send-time veto.

Run from the repository root: ``python -m examples.hooks``. Everything runs in this process on
the in-memory broker; see docs/hooks.md.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from taskq_core import (
    Delivery,
    Message,
    Reject,
    Task,
    TaskError,
    Taskq,
    Worker,
    WorkerInfo,
    hookimpl,
)
from taskq_core.plugins import plugin_manager


class Metrics:
    """Counts task outcomes and remembers which thread fired each hook."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.threads: dict[str, str] = {}
        self.runtimes: list[float] = []
        self._lock = threading.Lock()

    def _seen(self, event: str) -> None:
        with self._lock:
            self.counts[event] += 1
            self.threads.setdefault(event, threading.current_thread().name)

    @hookimpl
    def taskq_after_send(self, message: Message, eta: float | None) -> None:
        """A message was written (``eta`` set for a scheduled send)."""
        self._seen("after_send")

    @hookimpl
    def taskq_worker_started(self, worker: WorkerInfo) -> None:
        """A worker began consuming."""
        self._seen("worker_started")

    @hookimpl
    def taskq_task_started(self, delivery: Delivery) -> None:
        """A delivery is about to run."""
        self._seen("task_started")

    @hookimpl
    def taskq_task_succeeded(self, delivery: Delivery, result: object, runtime: float) -> None:
        """A delivery was acked."""
        self._seen("task_succeeded")
        with self._lock:
            self.runtimes.append(runtime)

    @hookimpl
    def taskq_task_retried(self, delivery: Delivery, error: str, delay: float) -> None:
        """A delivery failed and will run again."""
        self._seen("task_retried")

    @hookimpl
    def taskq_task_dead(self, message: Message, reason: str) -> None:
        """A message went to DEAD."""
        self._seen("task_dead")

    @hookimpl
    def taskq_worker_heartbeat(self, worker: WorkerInfo) -> None:
        """A heartbeat renewed the worker's leases."""
        self._seen("worker_heartbeat")

    @hookimpl
    def taskq_worker_stopping(self, worker: WorkerInfo, reason: str) -> None:
        """The worker is shutting down."""
        self._seen(f"worker_stopping({reason})")


class Tracing:
    """Wraps every task call: the code before ``yield`` runs before the task, after it after."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    @hookimpl(wrapper=True)
    def taskq_task_execute(self, delivery: Delivery, task: Task[..., Any]) -> Iterator[None]:
        """Record each call with its outcome; the task's own exception passes through."""
        try:
            result = yield
        except Exception as error:
            self.calls.append(f"{task.name.rsplit('.', 1)[-1]} raised {type(error).__name__}")
            raise
        self.calls.append(f"{task.name.rsplit('.', 1)[-1]} returned {result!r}")
        return result


class Gate:
    """Refuses messages for paused tasks before anything is written."""

    def __init__(self, paused: set[str]) -> None:
        self.paused = paused

    @hookimpl
    def taskq_before_send(self, message: Message) -> None:
        """Raise ``Reject`` to refuse the message: ``delay()`` raises it, nothing is sent."""
        if message.task in self.paused:
            raise Reject(f"{message.task} is paused")


class Broken:
    """A plugin with a bug: the worker logs its error and goes on; the ack stands."""

    @hookimpl
    def taskq_task_succeeded(self, delivery: Delivery, result: object, runtime: float) -> None:
        """Fail on purpose."""
        raise RuntimeError("metrics backend down")


app = Taskq("memory://")
attempts: Counter[str] = Counter()


@app.task
def add(x: int, y: int) -> int:
    """Succeed."""
    time.sleep(0.01)
    return x + y


@app.task(default_retry_delay=0.05, max_retries=1)
def flaky() -> str:
    """Fail once, then succeed."""
    attempts["flaky"] += 1
    if attempts["flaky"] == 1:
        raise ConnectionError("try again")
    return "second time lucky"


@app.task(max_retries=0)
def broken() -> None:
    """Always fail, with no retries."""
    raise KeyError("missing")


@app.task
def send_newsletter() -> None:
    """Never sent while the Gate pauses it."""


def main() -> None:
    """Register the plugins, send and run a few calls, and print what the hooks saw."""
    metrics, tracing = Metrics(), Tracing()
    manager = plugin_manager()
    # pluggy calls the last registered first. Broken goes in first, so it runs after Metrics:
    # an exception ends the rest of that one hook call (see docs/hooks.md, "Errors").
    for plugin in (Broken(), metrics, tracing, Gate({send_newsletter.name})):
        manager.register(plugin)

    try:
        send_newsletter.delay()
    except Reject as error:
        print(f"before_send vetoed: {error}")

    worker = Worker(app, name="w1", concurrency=1)
    worker.start()
    try:
        print(f"add -> {add.delay(2, 3).get(timeout=5)} (a broken plugin did not undo the ack)")
        print(f"flaky -> {flaky.delay().get(timeout=5)}")
        try:
            broken.delay().get(timeout=5)
        except TaskError as error:
            print(f"broken -> {error}")
    finally:
        worker.stop()

    for event, count in sorted(metrics.counts.items()):
        print(f"{event:<24} x{count:<2} on thread {metrics.threads[event]}")
    print(f"runtimes of the 2 successes recorded: {len(metrics.runtimes)}")
    print("wrapper saw:", sorted(tracing.calls))


if __name__ == "__main__":
    main()

"""Fixtures of the worker tests: an app on a fake-clock memory broker, workers, and waiting.

Nothing here sleeps to synchronize: tests wait on ``threading.Event`` objects set by their tasks,
or on a condition polled against a deadline (:func:`wait_until`), and fail loudly at the deadline.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from taskq_core import Taskq, Worker, hookimpl
from taskq_core.plugins import plugin_manager
from taskq_memory import MemoryBroker

if TYPE_CHECKING:
    from taskq_core import Delivery, FakeClock, Message, Task, WorkerInfo

#: Wall-clock bound on any wait in these tests; reached only when something is broken.
WAIT_TIMEOUT = 15.0

#: Worker settings for tests: timers that tick once at start and then stay quiet, so the test
#: decides when leases are renewed or recovered; short blocking reserves so a fake-clock ETA is
#: noticed soon after the test moves the clock.
QUIET_WORKER: dict[str, Any] = {
    "heartbeat_interval": 30.0,
    "visibility_timeout": 60.0,
    "schedule_poll_interval": 60.0,
    "reaper_interval": 60.0,
    "worker_timeout": 10_000.0,
    "block_timeout": 0.05,
    "shutdown_grace": 10.0,
}


def _wait_until(predicate: Callable[[], object], *, timeout: float = WAIT_TIMEOUT) -> None:
    """Return once ``predicate()`` is true; fail the test if it is still false at the deadline."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s: {predicate}")
        pause.wait(0.002)


def _wait_for(event: threading.Event) -> None:
    """Wait for ``event``; fail the test if it is not set in time."""
    if not event.wait(WAIT_TIMEOUT):
        pytest.fail("event was not set in time")


@pytest.fixture
def wait_until() -> Callable[..., None]:
    """``wait_until(predicate)``: poll a condition against a deadline; fail at the deadline."""
    return _wait_until


@pytest.fixture
def wait_for() -> Callable[[threading.Event], None]:
    """``wait_for(event)``: wait for an event; fail at the deadline."""
    return _wait_for


@pytest.fixture
def broker(clock: FakeClock) -> MemoryBroker:
    """An empty in-memory broker reading time from the test's fake clock."""
    return MemoryBroker(clock=clock)


@pytest.fixture
def app(broker: MemoryBroker) -> Taskq:
    """An app with no tasks yet, on ``broker``."""
    return Taskq(broker)


@pytest.fixture
def make_worker(app: Taskq) -> Iterator[Callable[..., Worker]]:
    """Build and start workers of ``app`` (quiet timers unless overridden); stopped afterwards."""
    started: list[Worker] = []

    def make(**options: Any) -> Worker:
        worker = Worker(app, **{**QUIET_WORKER, **options})
        worker.start()
        started.append(worker)
        return worker

    yield make
    for worker in started:
        worker.stop(timeout=5)


class WorkerEvents:
    """A plugin counting lifecycle hooks, so tests can wait for them."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.heartbeats: Counter[str] = Counter()
        self.dead: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    @hookimpl
    def taskq_worker_heartbeat(self, worker: WorkerInfo) -> None:
        with self.lock:
            self.heartbeats[worker.worker_id] += 1

    @hookimpl
    def taskq_task_succeeded(self, delivery: Delivery, result: object, runtime: float) -> None:
        with self.lock:
            self.counts["succeeded"] += 1

    @hookimpl
    def taskq_task_retried(self, delivery: Delivery, error: str, delay: float) -> None:
        with self.lock:
            self.counts["retried"] += 1

    @hookimpl
    def taskq_task_dead(self, message: Message, reason: str) -> None:
        with self.lock:
            self.counts["dead"] += 1
            self.dead.append((message.id, reason))

    def heartbeats_of(self, worker: Worker) -> int:
        with self.lock:
            return self.heartbeats[worker.id]


@pytest.fixture
def events() -> Iterator[WorkerEvents]:
    """Lifecycle hooks seen during this test (registered on the process-wide plugin manager)."""
    plugin = WorkerEvents()
    plugin_manager().register(plugin)
    yield plugin
    plugin_manager().unregister(plugin)


@dataclass
class GatedTask:
    """``tests.gated(n=0)``: records ``n``; the call with ``n == 0`` sets ``started`` and then
    blocks until the test sets ``release``; other calls return at once."""

    task: Task[..., None]
    started: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    ran: list[int] = field(default_factory=list)


@pytest.fixture
def gated(app: Taskq, make_worker: Callable[..., Worker]) -> Iterator[GatedTask]:
    """A task the test holds inside its call; released at teardown, before workers stop."""
    started, release, ran = threading.Event(), threading.Event(), []

    @app.task(name="tests.gated")
    def gated_task(n: int = 0) -> None:
        ran.append(n)
        if n == 0:
            started.set()
            _wait_for(release)

    yield GatedTask(gated_task, started, release, ran)
    release.set()

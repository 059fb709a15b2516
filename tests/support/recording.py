"""A plugin recording the lifecycle hooks a test's workers call, for tests to wait on and check."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from taskq_core import hookimpl
from taskq_core.plugins import plugin_manager

if TYPE_CHECKING:
    from taskq_core import Delivery, Message, Worker, WorkerInfo


class TaskEvents:
    """Lifecycle hooks seen during one test, per message id and per worker.

    ``counts`` totals the outcomes (``succeeded``, ``retried``, ``dead``); the other fields say
    which messages had them: runs started, the delivery that succeeded, the errors of each
    retry, the reason a message went dead. ``heartbeats`` counts beats per worker id.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.started: Counter[str] = Counter()
        self.succeeded: dict[str, Delivery] = {}
        self.retried: dict[str, list[str]] = defaultdict(list)
        self.dead: dict[str, str] = {}
        self.heartbeats: Counter[str] = Counter()

    @hookimpl
    def taskq_task_started(self, delivery: Delivery) -> None:
        with self.lock:
            self.started[delivery.id] += 1

    @hookimpl
    def taskq_task_succeeded(self, delivery: Delivery, result: object, runtime: float) -> None:
        with self.lock:
            self.counts["succeeded"] += 1
            self.succeeded[delivery.id] = delivery

    @hookimpl
    def taskq_task_retried(self, delivery: Delivery, error: str, delay: float) -> None:
        with self.lock:
            self.counts["retried"] += 1
            self.retried[delivery.id].append(error)

    @hookimpl
    def taskq_task_dead(self, message: Message, reason: str) -> None:
        with self.lock:
            self.counts["dead"] += 1
            self.dead[message.id] = reason

    @hookimpl
    def taskq_worker_heartbeat(self, worker: WorkerInfo) -> None:
        with self.lock:
            self.heartbeats[worker.worker_id] += 1

    def heartbeats_of(self, worker: Worker) -> int:
        """How many heartbeats ``worker`` has sent."""
        with self.lock:
            return self.heartbeats[worker.id]


@pytest.fixture
def events() -> Iterator[TaskEvents]:
    """Lifecycle hooks seen during this test (registered on the process-wide plugin manager)."""
    plugin = TaskEvents()
    plugin_manager().register(plugin)
    yield plugin
    plugin_manager().unregister(plugin)


class Labels:
    """Labels in the order tasks added them (tasks run on several threads)."""

    def __init__(self) -> None:
        self.labels: list[str] = []
        self._lock = threading.Lock()

    def add(self, label: str) -> None:
        with self._lock:
            self.labels.append(label)

    def __len__(self) -> int:
        with self._lock:
            return len(self.labels)

"""In-process workers started for a test and stopped after it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from taskq_core import Taskq, Worker

MakeWorker = Callable[..., Worker]

#: In-process worker timings: a quick reaper and schedule poll (a lost child or a postponed
#: message comes back within a tenth of a second), short blocking reserves so ``stop()`` is
#: quick, and leases far longer than any test task.
TEST_WORKER: dict[str, Any] = {
    "heartbeat_interval": 1.0,
    "visibility_timeout": 10.0,
    "schedule_poll_interval": 0.1,
    "reaper_interval": 0.1,
    "block_timeout": 0.1,
    "shutdown_grace": 5.0,
}


@pytest.fixture
def worker_options() -> dict[str, Any]:
    """``Worker`` arguments ``make_worker`` applies unless a call overrides them.

    A folder whose tests want other timings overrides this fixture in its conftest.
    """
    return TEST_WORKER


@pytest.fixture
def make_worker(worker_options: dict[str, Any]) -> Iterator[MakeWorker]:
    """``make_worker(app, **options)``: start a worker of ``app``; every one is stopped after."""
    started: list[Worker] = []

    def make(app: Taskq, **options: Any) -> Worker:
        worker = Worker(app, **{**worker_options, **options})
        worker.start()
        started.append(worker)
        return worker

    yield make
    for worker in started:
        worker.stop(timeout=5)

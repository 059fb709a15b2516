"""The log lines a Celery user expects: a start banner, per-task lines, one line per dead worker.

Each test reads what the worker logged (``caplog``) on the fake-clock memory broker.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

import pytest

from taskq_core import Taskq, Worker, WorkerInfo, __version__
from taskq_core.worker.banner import banner
from taskq_core.worker.upkeep import reap

if TYPE_CHECKING:
    from collections.abc import Callable

    from taskq_core import FakeClock
    from taskq_memory import MemoryBroker


def worker_messages(caplog: pytest.LogCaptureFixture, level: int | None = None) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("taskq.worker") and (level is None or record.levelno == level)
    ]


def test_the_start_banner_names_what_the_worker_runs_with(
    app: Taskq, make_worker: Callable[..., Worker], caplog: pytest.LogCaptureFixture
):
    # Given an app with two tasks in two queues
    @app.task(name="tests.add")
    def add(a: int, b: int) -> int:
        return a + b

    @app.task(name="tests.mail", queue="emails")
    def mail() -> None:
        pass

    # When a worker starts with logging at INFO
    caplog.set_level(logging.INFO, logger="taskq.worker")
    worker = make_worker(concurrency=3, prefetch=5)

    # Then one INFO record is the banner, with every setting an operator looks for
    [text] = [m for m in worker_messages(caplog, logging.INFO) if "starting" in m]
    assert text.splitlines()[0] == f"taskq {__version__} worker {worker.id} starting"
    assert "  broker:      MemoryBroker instance" in text
    assert "  queues:      default, emails - order fair (round-robin)" in text
    assert "  pool:        threads, concurrency 3" in text
    assert "  prefetch:    5" in text
    assert "  lease:       60s, heartbeat every 30s, dead after 10000s of silence" in text
    assert text.endswith("  tasks:\n    . tests.add\n    . tests.mail")


def test_the_banner_shows_async_concurrency_when_it_differs_from_the_slots() -> None:
    # Given a worker whose async def tasks run 200 at once beside 2 pool threads
    app = Taskq("memory://")
    worker = Worker(app, queues=["default"], concurrency=2, async_concurrency=200)

    # When the banner is built, then the pool line says both numbers
    text = banner(worker, __version__)
    assert "  pool:        threads, concurrency 2, async def tasks 200 at once" in text


def test_the_banner_hides_the_broker_password():
    # Given an app whose broker URL carries a password (never connected: the banner reads the URL)
    app = Taskq("redis://user:s3cr#t/pw@redis.example:6379/0?password=other")
    worker = Worker(app, queues=["default"])

    # When the banner is built, then neither secret is in it but the host is
    text = banner(worker, __version__)
    assert "s3cr" not in text
    assert "other" not in text
    assert "  broker:      redis://***@redis.example:6379/0?password=***" in text


def test_each_task_logs_received_at_debug_and_succeeded_at_info(
    app: Taskq, make_worker: Callable[..., Worker], caplog: pytest.LogCaptureFixture, wait_until
):
    # Given a task, a message for it, and logging at DEBUG
    @app.task(name="tests.add")
    def add(a: int, b: int) -> int:
        return a + b

    caplog.set_level(logging.DEBUG, logger="taskq.worker")
    result = add.delay(2, 3)

    # When a worker runs it
    make_worker()
    assert result.get(timeout=15) == 5

    # Then "received" came at DEBUG and "succeeded in <s>: <value>" at INFO, Celery style
    assert f"Task tests.add[{result.id}] received" in worker_messages(caplog, logging.DEBUG)
    [succeeded] = [m for m in worker_messages(caplog, logging.INFO) if "succeeded" in m]
    assert succeeded.startswith(f"Task tests.add[{result.id}] succeeded in ")
    seconds = succeeded.split(" succeeded in ")[1].split("s: ")[0]
    assert float(seconds) >= 0
    assert succeeded.endswith("s: 5")


def test_a_long_result_is_shortened_in_the_succeeded_line(
    app: Taskq, make_worker: Callable[..., Worker], caplog: pytest.LogCaptureFixture
):
    # Given a task returning a long string
    @app.task(name="tests.long")
    def long() -> str:
        return "x" * 10_000

    caplog.set_level(logging.INFO, logger="taskq.worker")
    result = long.delay()

    # When it runs, then its line shows a shortened repr only
    make_worker()
    assert len(result.get(timeout=15)) == 10_000
    [succeeded] = [m for m in worker_messages(caplog) if "succeeded" in m]
    assert "..." in succeeded
    assert len(succeeded) < 200


def test_at_warning_no_task_line_is_formatted(
    app: Taskq, make_worker: Callable[..., Worker], caplog: pytest.LogCaptureFixture, wait_until
):
    # Given logging at WARNING (production, the bench)
    formatted = threading.Event()

    class Loud:
        def __repr__(self) -> str:
            formatted.set()
            return "loud"

    @app.task(name="tests.loud", ignore_result=True)
    def loud() -> Loud:
        return Loud()

    caplog.set_level(logging.WARNING, logger="taskq.worker")
    loud.delay()

    # When a task succeeds, then no per-task record exists and its value was never formatted
    worker = make_worker()
    wait_until(lambda: worker.stats["acked"] == 1)
    assert not [m for m in worker_messages(caplog) if "tests.loud" in m]
    assert not formatted.is_set()


def test_a_dead_worker_of_several_queues_is_reported_once(
    broker: MemoryBroker, clock: FakeClock, caplog: pytest.LogCaptureFixture
):
    # Given a worker of three queues that stopped heartbeating
    info = WorkerInfo(
        worker_id="host:1:dead",
        hostname="host",
        pid=1,
        queues=("default", "emails", "reports"),
        concurrency=1,
        pool="threads",
        started_at=time.time(),
        version=__version__,
    )
    broker.send_heartbeat(info)
    clock.advance(60)

    # When the reaper of a worker of the same queues runs
    caplog.set_level(logging.WARNING, logger="taskq.worker")
    reap(broker, ["default", "emails", "reports"], worker_timeout=10, result_ttl=60)

    # Then one line reports it, naming its queues
    lines = [m for m in worker_messages(caplog) if "stopped heartbeating" in m]
    assert lines == [
        "worker host:1:dead stopped heartbeating; expired its leases in default, emails, reports"
    ]

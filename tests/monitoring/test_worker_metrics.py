"""``--metrics-port``: a worker's counters, scraped over HTTP, match the tasks it ran.

Tasks of known outcomes run in an in-process worker (``threads`` and ``processes`` pools); the
test scrapes the port, parses the text with prometheus-client's own parser and compares every
counter with what was sent. The ``processes`` pool runs its tasks in child interpreters; the
counts still come from the worker process, where each outcome is settled.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from taskq_core import ConfigurationError, Message, Taskq, Worker
from taskq_core.monitoring.health import HealthServer
from taskq_core.monitoring.worker_metrics import MetricsServer
from taskq_memory import MemoryBroker

from ..support.waiting import wait_until
from . import monitored_app
from .conftest import Samples, scrape, taskq_samples

if TYPE_CHECKING:
    from pathlib import Path

COUNTERS = (
    "taskq_tasks_sent_total",
    "taskq_tasks_succeeded_total",
    "taskq_tasks_failed_total",
    "taskq_tasks_retried_total",
    "taskq_tasks_dead_total",
)
OK, BOOM = "monitoring.ok", "monitoring.boom"


def by_task(name: str, task: str, value: float, queue: str = "default") -> Samples:
    return {(name, (("queue", queue), ("task", task))): value}


def expected_counters(oks: int, booms: int, unknown: int) -> Samples:
    """What ``oks`` successes, ``booms`` always-failing tasks (1 retry) and unknown tasks give."""
    expected: Samples = {}
    for part in (
        by_task("taskq_tasks_sent_total", OK, oks),
        by_task("taskq_tasks_sent_total", BOOM, booms),
        by_task("taskq_tasks_succeeded_total", OK, oks),
        by_task("taskq_tasks_failed_total", BOOM, 2 * booms),
        by_task("taskq_tasks_retried_total", BOOM, booms),
        by_task("taskq_tasks_dead_total", BOOM, booms),
        by_task("taskq_tasks_dead_total", "monitoring.nowhere", unknown),
    ):
        expected.update(part)
    return expected


@pytest.fixture
def metrics_for() -> Iterator[Callable[[Worker], MetricsServer]]:
    """``metrics_for(worker)``: a metrics server on a free loopback port, closed afterwards."""
    servers: list[MetricsServer] = []

    def make(worker: Worker) -> MetricsServer:
        server = MetricsServer(worker, port=0)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def run_known_outcomes(
    app: Taskq, worker: Worker, server: MetricsServer, oks: int, booms: int
) -> Samples:
    """Send the tasks and an unknown one; return the scraped counters once all settled."""
    for n in range(oks):
        monitored_app.ok.delay(n)
    for _ in range(booms):
        monitored_app.boom.delay()
    app.broker.send(Message.build(task="monitoring.nowhere"))  # dead without running
    expected = expected_counters(oks, booms, unknown=1)
    seen: Samples = {}

    def settled() -> bool:
        nonlocal seen
        seen = taskq_samples(scrape(server.port), *COUNTERS)
        return seen == expected

    wait_until(settled, what=f"counters {expected}, last seen {seen}")
    return scrape(server.port)


@pytest.mark.parametrize("pool", ["threads", "processes"])
def test_scraped_counters_match_the_tasks_run(
    pool: str, in_rootdir: Path, metrics_for: Callable[[Worker], MetricsServer]
):
    # Given a worker of monitored_app with its metrics served on a port
    app = monitored_app.app
    app.use_broker(MemoryBroker())
    worker = Worker(app, pool=pool, concurrency=2, heartbeat_interval=0.5, block_timeout=0.1)
    server = metrics_for(worker)
    worker.start()
    try:
        # When 5 tasks succeed, 2 fail twice (one retry each, then DEAD) and 1 is unknown
        samples = run_known_outcomes(app, worker, server, oks=5, booms=2)
    finally:
        assert worker.stop(timeout=10)

    # Then every counter matched (checked while waiting), and the histograms saw each run:
    # 5 successful and 4 failed runs; 7 first deliveries waited in the queue (the unknown task
    # never started)
    runtime = sum(
        value for (name, _), value in samples.items() if name == "taskq_task_runtime_seconds_count"
    )
    waited = sum(
        value
        for (name, _), value in samples.items()
        if name == "taskq_task_queue_wait_seconds_count"
    )
    assert (runtime, waited) == (9, 7)
    # And nothing is in flight any more
    assert samples[("taskq_tasks_in_flight", (("queue", "default"),))] == 0


def test_the_in_flight_gauge_counts_a_running_task(metrics_for: Callable[[Worker], MetricsServer]):
    # Given a worker running a task that waits for the test
    app = Taskq(MemoryBroker())
    release = threading.Event()

    @app.task(name="monitoring.blocked")
    def blocked() -> None:
        release.wait(30)

    worker = Worker(app, concurrency=2, heartbeat_interval=0.5, block_timeout=0.1)
    server = metrics_for(worker)
    worker.start()
    in_flight = ("taskq_tasks_in_flight", (("queue", "default"),))
    try:
        blocked.delay()

        # Then the gauge shows it while it runs, and not after
        wait_until(lambda: scrape(server.port)[in_flight] == 1, what="one task in flight")
        release.set()
        wait_until(lambda: scrape(server.port)[in_flight] == 0, what="nothing in flight")
    finally:
        release.set()
        assert worker.stop(timeout=10)


def test_a_port_in_use_is_one_line_naming_it():
    first = MetricsServer(None, port=0)
    try:
        with pytest.raises(
            ConfigurationError, match=rf"^cannot serve metrics on 127.0.0.1:{first.port}: "
        ):
            MetricsServer(None, port=first.port)
        with pytest.raises(
            ConfigurationError, match=rf"^cannot serve health on 127.0.0.1:{first.port}: "
        ):
            HealthServer(Worker(Taskq("memory://"), queues=["default"]), port=first.port)
    finally:
        first.close()


def test_the_metrics_port_binds_loopback_by_default():
    server = MetricsServer(None, port=0)
    try:
        assert server._server.server_address[0] == "127.0.0.1"
        assert "python_info" in {name for name, _ in scrape(server.port)}
    finally:
        server.close()

"""``taskq worker`` with every monitoring option, as a user runs it: a real process on Redis.

One run of the command with the ``processes`` pool proves the options end to end: the health
port turns 200, the metrics port counts what the pool's children ran, and a log line a task
writes in a child process comes out as JSON carrying the task's id.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from typing import TYPE_CHECKING

import pytest

from taskq_core import TaskError

from ..support.redis_server import StartRedisServer, free_port
from ..support.waiting import WAIT_TIMEOUT, wait_until
from . import monitored_app
from .conftest import get, scrape, taskq_samples

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def broker_url(start_redis_server: StartRedisServer) -> str:
    """A redis-server of this test's own, with a key prefix of its own."""
    return f"{start_redis_server().url}?prefix=mon-{uuid.uuid4().hex[:8]}"


def test_worker_command_serves_health_and_metrics_and_logs_json_from_pool_children(
    broker_url: str, tmp_path: Path, in_rootdir: Path
):
    # Given `taskq worker` with the processes pool and every monitoring option
    metrics_port, health_port = free_port(), free_port()
    log_path = tmp_path / "worker.log"
    command = [
        sys.executable,
        "-c",
        "from taskq_core.cli import main; main()",
        "worker",
        "tests.monitoring.monitored_app:app",
        "--broker", broker_url,
        "--pool", "processes",
        "-c", "2",
        "--heartbeat-interval", "0.5",
        "--metrics-port", str(metrics_port),
        "--health-port", str(health_port),
        "--log-format", "json",
    ]  # fmt: skip
    env = {key: value for key, value in os.environ.items() if not key.startswith("TASKQ_LOG_")}
    with log_path.open("wb") as log_file:
        worker = subprocess.Popen(
            command, cwd=in_rootdir, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
    try:
        # Then its health port answers 200 once it heartbeats
        wait_until(
            lambda: get_status(f"http://127.0.0.1:{health_port}/") == 200,
            what=lambda: f"health 200; worker log:\n{tail(log_path)}",
        )

        # When tasks of known outcomes run in its children
        monitored_app.app.use_broker(broker_url)
        marker = uuid.uuid4().hex
        logged = monitored_app.log_line.delay(marker)
        assert logged.get(timeout=WAIT_TIMEOUT) == marker
        assert monitored_app.ok.delay(7).get(timeout=WAIT_TIMEOUT) == 7
        with pytest.raises(TaskError):
            monitored_app.boom.delay().get(timeout=WAIT_TIMEOUT)

        # Then the metrics port counts them, by task
        def by_task(name: str, task: str) -> tuple[str, tuple[tuple[str, str], ...]]:
            return name, (("queue", "default"), ("task", task))

        expected = {
            by_task("taskq_tasks_succeeded_total", "monitoring.log_line"): 1.0,
            by_task("taskq_tasks_succeeded_total", "monitoring.ok"): 1.0,
            by_task("taskq_tasks_failed_total", "monitoring.boom"): 2.0,
            by_task("taskq_tasks_retried_total", "monitoring.boom"): 1.0,
            by_task("taskq_tasks_dead_total", "monitoring.boom"): 1.0,
        }
        names = {name for name, _ in expected}
        wait_until(
            lambda: taskq_samples(scrape(metrics_port), *names) == expected,
            what=lambda: f"counters {expected}, seen {taskq_samples(scrape(metrics_port), *names)}",
        )

        # And the task's own log line, written in a child process, is JSON naming the task
        def task_line() -> dict[str, object] | None:
            for line in log_path.read_text().splitlines():
                if marker in line and line.startswith("{"):
                    record: dict[str, object] = json.loads(line)
                    return record
            return None

        wait_until(
            lambda: task_line() is not None, what=lambda: f"log line; log:\n{tail(log_path)}"
        )
        record = task_line()
        assert record is not None
        assert record["message"] == f"task says {marker}"
        assert record["task_id"] == logged.id
        assert (record["task_name"], record["queue"]) == ("monitoring.log_line", "default")
        assert record["level"] == "WARNING"
        assert record["logger"] == "monitoring.task"
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=WAIT_TIMEOUT)
        monitored_app.app.close()

    # And every line the worker wrote was a JSON object (no stray text lines)
    lines = log_path.read_text().splitlines()
    assert lines
    assert all(json.loads(line)["message"] is not None for line in lines), tail(log_path)
    assert worker.returncode == 0


def get_status(url: str) -> int | None:
    try:
        return get(url)[0]
    except OSError:  # not listening yet
        return None


def tail(path: Path) -> str:
    return "\n".join(path.read_text().splitlines()[-30:]) if path.exists() else "(no log)"

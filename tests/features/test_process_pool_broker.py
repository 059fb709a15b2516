"""The worker's broker reaches its processes-pool children: a task they run sends there.

The app module's own URL points where no Redis listens (``broker_app.py``); the worker is given
the test's real Redis, by ``taskq worker --broker`` in a worker process of its own, or by
``use_broker`` before an in-process ``Worker``. A task in a child sends a sub-task, which must
arrive on the worker's broker and run.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from ..support.waiting import WAIT_TIMEOUT
from . import broker_app

if TYPE_CHECKING:
    from pathlib import Path

    from taskq_core import Worker

pytestmark = pytest.mark.redis

#: How the test starts the worker: "cli" (``taskq worker --broker``) or "api" (``Worker(app)``).
HOW = ["cli", "api"]


@pytest.fixture
def workers_url(redis_url: str, prefix: str, redis_client: object) -> str:
    """The test's real Redis, under the test's own key prefix (deleted afterwards)."""
    separator = "&" if "?" in redis_url else "?"
    return f"{redis_url}{separator}prefix={prefix}"


@pytest.fixture
def on_workers_broker(workers_url: str) -> Iterator[None]:
    """Point ``broker_app.app`` in this process at the worker's broker, and back afterwards."""
    broker_app.app.use_broker(workers_url)
    yield
    broker_app.app.close()
    broker_app.app.use_broker(broker_app.UNREACHABLE_URL)


@pytest.fixture
def cli_worker(in_rootdir: Path) -> Iterator[Callable[[str], subprocess.Popen[bytes]]]:
    """``start(url)``: ``taskq worker broker_app:app --broker URL --pool processes``."""
    started: list[subprocess.Popen[bytes]] = []

    def start(url: str) -> subprocess.Popen[bytes]:
        argv = [
            sys.executable, "-c", "from taskq_core.cli import main; main()",
            "worker", f"{broker_app.__name__}:app", "--broker", url,
            "--pool", "processes", "-c", "1",
        ]  # fmt: skip
        process = subprocess.Popen(argv, cwd=in_rootdir, stdin=subprocess.DEVNULL)
        started.append(process)
        return process

    yield start
    for process in started:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(WAIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.parametrize("how", HOW)
def test_a_task_in_a_child_sends_its_sub_tasks_to_the_workers_broker(
    how: str,
    workers_url: str,
    on_workers_broker: None,  # before the workers: they stop before the app is switched back
    cli_worker: Callable[[str], subprocess.Popen[bytes]],
    make_worker: Callable[..., Worker],
):
    # Given a processes-pool worker of broker_app (whose module URL reaches no Redis) on the
    # test's Redis: started with --broker, or as a Worker of the app switched to that URL
    if how == "cli":
        cli_worker(workers_url)
    else:
        make_worker(broker_app.app, pool="processes", concurrency=1)

    # When a task running in a child sends a sub-task
    sub_id = broker_app.fan_out.delay("hello").get(timeout=WAIT_TIMEOUT)

    # Then the sub-task arrived on the worker's broker, where the worker ran it
    assert broker_app.app.AsyncResult(sub_id).get(timeout=WAIT_TIMEOUT) == "hello"

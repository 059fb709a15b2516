"""``Worker.run()`` in a real process: SIGTERM drains gracefully, a second SIGTERM stops at once.

Each test writes a small script to ``tmp_path``, starts it, waits for the lines it prints at the
right moments (never for a fixed time), signals it and reads the JSON it prints on the way out.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow

#: Wall-clock bound on each wait for the child; reached only when something is broken.
CHILD_TIMEOUT = 30.0

SCRIPT = textwrap.dedent(
    """
    import json
    import signal
    import sys
    import threading

    from taskq_core import Taskq, Worker, hookimpl
    from taskq_core.plugins import plugin_manager

    count, pool, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    app = Taskq("memory://")
    gate = threading.Event()  # set when the worker starts stopping (not in "hard" mode)
    lock = threading.Lock()
    started = []
    acked = []

    @app.task(name="job")
    def job(n):
        with lock:
            started.append(n)
            first = len(started) == 1
        if first and mode == "signal-from-a-task-thread":
            # The kernel may deliver a process's SIGTERM to any thread; force the worst case.
            signal.pthread_kill(threading.get_ident(), signal.SIGTERM)
        elif first:
            print("CONSUMING", flush=True)
        gate.wait(120)

    class Observer:
        @hookimpl
        def taskq_worker_stopping(self, worker, reason):
            print("STOPPING " + reason, flush=True)
            if mode != "hard":
                gate.set()

        @hookimpl
        def taskq_task_succeeded(self, delivery, result, runtime):
            with lock:
                acked.append(delivery.message.args[0])

    plugin_manager().register(Observer())
    job.delay_many([(n,) for n in range(count)])
    Worker(
        app,
        pool=pool,
        concurrency=2 if pool == "threads" else 1,
        prefetch=3,
        heartbeat_interval=1.0,
        visibility_timeout=30.0,
        shutdown_grace=90.0,
        block_timeout=0.1,
    ).run()

    counts = app.broker.counts("default")
    left = app.broker.reserve(["default"], worker_id="drain", lease=60.0, limit=count)
    print("RESULT " + json.dumps({
        "acked": sorted(acked),
        "ready": sorted(d.message.args[0] for d in left),
        "counts": counts.model_dump(),
    }), flush=True)
    """
)


class Child:
    """A worker script running in its own process, with its stdout read line by line."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        script = tmp_path / "worker_script.py"
        script.write_text(SCRIPT)
        self.stderr_path = tmp_path / "stderr.txt"
        with self.stderr_path.open("w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, str(script), *args],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self.lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for_line(self, prefix: str) -> str:
        while True:
            try:
                line = self.lines.get(timeout=CHILD_TIMEOUT)
            except queue.Empty:
                pytest.fail(f"no line starting {prefix!r}; stderr:\n{self.stderr()}")
            if line.startswith(prefix):
                return line

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)

    def exit_code(self) -> int:
        try:
            return self.process.wait(timeout=CHILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"worker did not exit; stderr:\n{self.stderr()}")

    def result(self) -> dict[str, Any]:
        return json.loads(self.wait_for_line("RESULT ").removeprefix("RESULT "))

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._reader.join(CHILD_TIMEOUT)
        assert self.process.stdout is not None
        self.process.stdout.close()


@pytest.fixture
def start_child(tmp_path: Path):
    children: list[Child] = []

    def start(*args: str) -> Child:
        child = Child(tmp_path, *args)
        children.append(child)
        return child

    yield start
    for child in children:
        child.close()


@pytest.mark.parametrize("pool", ["threads", "solo"])
def test_sigterm_finishes_running_tasks_and_returns_the_rest_to_ready(start_child, pool):
    # Given a worker process consuming 20 tasks that run until the worker starts stopping
    total = 20
    child = start_child(str(total), pool, "graceful")
    child.wait_for_line("CONSUMING")

    # When it receives SIGTERM
    child.terminate()

    # Then it exits cleanly; every task was either acked or is READY again, none is held
    assert child.exit_code() == 0, child.stderr()
    result = child.result()
    assert sorted(result["acked"] + result["ready"]) == list(range(total))
    assert result["acked"], "the running task should have finished"
    assert result["counts"]["processing"] == 0
    assert result["counts"]["ready"] == len(result["ready"])


@pytest.mark.parametrize("pool", ["threads", "solo"])
def test_second_sigterm_stops_at_once(start_child, pool):
    # Given a worker process whose running tasks never finish on their own
    child = start_child("5", pool, "hard")
    child.wait_for_line("CONSUMING")

    # When it receives SIGTERM, starts its graceful stop (90 s grace), then gets a second SIGTERM
    child.terminate()
    assert child.wait_for_line("STOPPING") == "STOPPING signal"
    child.terminate()

    # Then it exits well before the grace period, leaving running tasks to their leases
    assert child.exit_code() == 0, child.stderr()
    result = child.result()
    assert result["acked"] == []
    assert result["counts"]["processing"] >= 1
    assert len(result["ready"]) + result["counts"]["processing"] == 5


def test_sigterm_delivered_to_a_pool_thread_still_stops_the_worker(start_child):
    # Given a worker process whose SIGTERM lands on a pool thread, not on the main thread
    # (the kernel may pick any thread; the main thread must still notice)
    child = start_child("5", "threads", "signal-from-a-task-thread")

    # When the signal arrives, then the worker stops gracefully and exits cleanly
    assert child.wait_for_line("STOPPING") == "STOPPING signal"
    assert child.exit_code() == 0, child.stderr()
    result = child.result()
    assert sorted(result["acked"] + result["ready"]) == list(range(5))
    assert result["counts"]["processing"] == 0

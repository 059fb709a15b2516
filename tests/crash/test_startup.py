"""A ``taskq worker`` started before its Redis waits for it, logging each attempt, then works.

Each test runs the real command (``taskq worker startup_app:app --broker ...``) as a process
against a loopback port where no Redis runs yet, and reads what it printed. The loading case
puts a stand-in on the port that answers every command with Redis's ``LOADING`` error, as a
restarted Redis does while it reads its data, then replaces it with a real ``redis-server``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from taskq_core import Taskq, Worker
from taskq_core.worker.startup import (
    BROKER_WAIT_EXPIRED_STATUS,
    CONFIGURATION_ERROR_STATUS,
    FIRST_RETRY_DELAY,
    MAX_RETRY_DELAY,
    retry_delay,
)

from ..support.redis_server import RedisServer, free_port, locked_redis, redis_server_binary
from ..support.waiting import wait_until

HERE = Path(__file__).parent
#: The error a loading Redis answers every command with (RESP simple error).
LOADING_REPLY = b"-LOADING Redis is loading the dataset in memory\r\n"


class Command:
    """``taskq worker`` for ``startup_app:app`` on ``url``, its output collected as it comes."""

    def __init__(self, url: str, *options: str) -> None:
        launch = "from taskq_core.cli import main; main()"
        argv = [sys.executable, "-c", launch, "worker", "startup_app:app", "--broker", url]
        self.process = subprocess.Popen(
            [*argv, "--loglevel", "INFO", "--heartbeat-interval", "1", *options],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=HERE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            with self._lock:
                self._lines.append(raw.decode(errors="replace").rstrip("\n"))

    @property
    def output(self) -> str:
        with self._lock:
            return "\n".join(self._lines)

    def count(self, text: str) -> int:
        with self._lock:
            return sum(text in line for line in self._lines)

    def wait_for(self, text: str, times: int = 1) -> None:
        """Until ``text`` was printed on ``times`` lines; fail if the process exits first."""

        def printed() -> bool:
            if self.count(text) >= times:
                return True
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited ({self.process.returncode}):\n{self.output}")
            return False

        wait_until(
            printed, what=f"{text!r} printed {times}x", describe=lambda: self.output, poll=0.05
        )

    def exit_code(self, timeout: float = 30.0) -> int:
        code = self.process.wait(timeout)
        self._reader.join(timeout)
        return code

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._reader.join(10)
        assert self.process.stdout is not None
        self.process.stdout.close()


@pytest.fixture
def commands():
    started: list[Command] = []

    def start(url: str, *options: str) -> Command:
        command = Command(url, *options)
        started.append(command)
        return command

    yield start
    for command in started:
        command.stop()


class LoadingRedis:
    """Listens on ``port`` and answers every command the way a Redis loading its data does."""

    def __init__(self, port: int) -> None:
        self.listener = socket.create_server(("127.0.0.1", port))
        self.listener.settimeout(0.1)
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.closed.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(5)
                try:
                    if connection.recv(65536):  # one command (a PING or HELLO): refused
                        connection.sendall(LOADING_REPLY)
                except OSError:
                    pass

    def close(self) -> None:
        self.closed.set()
        self.thread.join(5)
        self.listener.close()


def start_redis_on(port: int, directory: Path) -> RedisServer:
    server = RedisServer(redis_server_binary(), directory, port=port)
    server.start()
    return server


def add_on(url: str) -> Taskq:
    producer = Taskq(url)

    @producer.task(name="startup.add")
    def add(a: int, b: int) -> int:
        return a + b

    return producer


def test_a_worker_started_before_redis_waits_for_it_then_runs_tasks(commands, tmp_path: Path):
    # Given a port where no Redis runs yet, and a worker started against it
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    worker = commands(url)

    # When it has failed to connect a few times
    worker.wait_for("broker not ready (attempt", times=3)

    # Then it is still running and each attempt logged its cause on one line
    assert worker.process.poll() is None
    assert worker.count("Connection refused") >= 3
    assert "Traceback" not in worker.output

    # When Redis starts on that port and a task is sent there
    server = start_redis_on(port, tmp_path)
    try:
        producer = add_on(url)
        result = producer.tasks["startup.add"].delay(2, 3)

        # Then the worker connects, prints its banner and runs the task
        assert result.get(timeout=30) == 5
        worker.wait_for("broker reachable after")
        worker.wait_for("Task startup.add[")
        assert f"broker:      {url}" in worker.output
        assert "startup.add" in worker.output
        producer.close()

        # And a SIGTERM stops it cleanly
        worker.process.send_signal(signal.SIGTERM)
        assert worker.exit_code() == 0
    finally:
        server.stop()


def test_a_worker_retries_while_redis_is_loading(commands, tmp_path: Path):
    # Given a port where a Redis is loading its data, and a worker started against it
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    loading = LoadingRedis(port)
    try:
        worker = commands(url)

        # When the worker has been refused with LOADING twice
        worker.wait_for("loading the dataset", times=2)
        assert worker.process.poll() is None
    finally:
        loading.close()

    # Then, once Redis has loaded (a real server on that port), the worker runs a task
    server = start_redis_on(port, tmp_path)
    try:
        producer = add_on(url)
        assert producer.tasks["startup.add"].delay(20, 22).get(timeout=30) == 42
        producer.close()
    finally:
        server.stop()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_while_waiting_for_redis_exits_cleanly(commands, signum: int):
    # Given a worker waiting for a Redis that is not there
    worker = commands(f"redis://127.0.0.1:{free_port()}/0")
    worker.wait_for("broker not ready (attempt")

    # When it gets a stop signal
    worker.process.send_signal(signum)

    # Then it exits with status 0, saying why, without a traceback
    assert worker.exit_code() == 0
    assert "stop requested while waiting for the broker" in worker.output
    assert "Traceback" not in worker.output


def test_connect_timeout_bounds_the_wait_with_one_line_and_status_3(commands):
    # Given a worker with a connect timeout and no Redis on its port
    worker = commands(f"redis://127.0.0.1:{free_port()}/0", "--connect-timeout", "1")

    # When the timeout passes, then it exits with status 3 and one error line naming the cause
    assert worker.exit_code() == BROKER_WAIT_EXPIRED_STATUS == 3
    errors = [line for line in worker.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, worker.output
    assert "cannot reach Redis" in errors[0]
    assert "gave up after" in errors[0]
    assert "Traceback" not in worker.output


def test_connect_timeout_bounds_the_wait_of_supervised_processes_too(commands):
    # Given two supervised worker processes with a connect timeout and no Redis on their port
    url = f"redis://127.0.0.1:{free_port()}/0"
    worker = commands(url, "--connect-timeout", "1", "--processes", "2")

    # When the timeout passes, then the supervisor stops instead of restarting them for ever,
    # with the processes' status and their one-line cause
    assert worker.exit_code() == BROKER_WAIT_EXPIRED_STATUS
    assert "gave up waiting for the broker" in worker.output
    assert "restarting it" not in worker.output
    assert "Traceback" not in worker.output


@pytest.mark.parametrize("processes", ["1", "2"])
def test_credentials_redis_refuses_stop_the_command_with_status_4(
    commands, tmp_path: Path, processes: str
):
    # Given a worker (or two supervised ones) whose URL carries a password Redis refuses
    with locked_redis(tmp_path, "right") as socket_path:
        worker = commands(f"unix://:wrong@{socket_path}?db=0", "--processes", processes)
        status = worker.exit_code()

    # Then the command stops with the configuration's status and one line, restarting nothing
    assert status == CONFIGURATION_ERROR_STATUS == 4
    assert "refused the URL's credentials" in worker.output
    assert "restarting it" not in worker.output
    assert ":wrong@" not in worker.output
    assert "Traceback" not in worker.output
    if processes == "2":
        assert "cannot start with this configuration" in worker.output


def test_stop_during_the_wait_ends_start_without_starting_anything():
    # Given an in-process worker whose start() waits for a Redis that is not there
    app = Taskq(f"redis://127.0.0.1:{free_port()}/0")
    worker = Worker(app, queues=["default"], heartbeat_interval=1.0)
    starting = threading.Thread(target=worker.start)
    starting.start()

    # When it is stopped
    assert worker.stop(timeout=1) is True

    # Then start() returns and nothing runs
    starting.join(10)
    assert not starting.is_alive()
    assert worker.held == []
    assert [t.name for t in threading.enumerate() if t.name.startswith("taskq-")] == []


@pytest.mark.parametrize("attempt", [1, 2, 3, 5, 8, 100, 10_000])
def test_retry_delays_grow_exponentially_with_jitter_up_to_the_cap(attempt: int):
    step = min(MAX_RETRY_DELAY, FIRST_RETRY_DELAY * 2 ** min(attempt - 1, 32))
    delays = [retry_delay(attempt) for _ in range(200)]
    assert all(step / 2 <= delay <= step for delay in delays)
    assert len(set(delays)) > 1

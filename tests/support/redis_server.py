"""The real ``redis-server`` of a test session, and servers a single test starts and kills.

The rule for every test folder: with ``TASKQ_TEST_REDIS_URL`` set, tests that need a real server
use that one; otherwise the session starts a private ``redis-server`` from ``PATH``. Without
either, those tests skip locally and fail when ``CI`` is set, so a CI run can never pass by
skipping them. Tests that restart, kill or count the commands of a server start one of their own
(:class:`RedisServer`). Each test works under a key prefix of its own and deletes only its keys:
the server may be shared, so nothing here flushes a database.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from taskq_core.clock import Clock
from taskq_redis import RedisBroker

from .waiting import wait_until

REDIS_URL_ENV = "TASKQ_TEST_REDIS_URL"
#: Seconds a server may take to answer PING after it is started.
STARTUP_TIMEOUT = 15.0


def in_ci() -> bool:
    """Whether this run is CI's, where a missing server or browser is an error."""
    return bool(os.environ.get("CI"))


def missing(what: str) -> None:
    """Skip the test locally; fail it when ``CI`` is set, since CI must run it."""
    if in_ci():
        pytest.fail(f"{what} (CI is set, so this is an error)", pytrace=False)
    pytest.skip(what)


#: Environment variable naming the server binary to start instead of ``redis-server``.
REDIS_SERVER_ENV = "TASKQ_TEST_REDIS_SERVER"


def redis_server_binary() -> str:
    """The server binary to start; skip without one, but fail under CI.

    ``$TASKQ_TEST_REDIS_SERVER`` names another binary than the ``redis-server`` on ``PATH``
    (Valkey's server, an older Redis): CI runs a crash subset on each server it tests.
    """
    path = os.environ.get(REDIS_SERVER_ENV) or shutil.which("redis-server")
    if path is None:
        missing("redis-server is not installed (apt-get install redis-server)")
        raise AssertionError("unreachable")
    return path


def free_port() -> int:
    """A loopback port nothing listened on a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def new_prefix() -> str:
    """A key prefix (and Redis client name) no other test, and no other engineer, uses."""
    return f"tq-test-{uuid.uuid4().hex[:12]}"


def brokers_from(url: str) -> Iterator[Callable[[Clock], RedisBroker]]:
    """The conformance suite's ``make_broker`` for ``url`` (``yield from`` it in the fixture).

    Each broker works under a prefix of its own; all are closed once the test is done.
    """
    brokers: list[RedisBroker] = []

    def build(clock: Clock) -> RedisBroker:
        brokers.append(RedisBroker.from_url(url, prefix=new_prefix(), clock=clock))
        return brokers[-1]

    yield build
    for broker in brokers:
        broker.close()


def reachable(url: str) -> str:
    """``url`` once its server answers PING; skip locally, fail in CI, when it does not."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        missing(f"Redis at {url} unreachable: {exc}")
    finally:
        client.close()
    return url


def delete_prefix(client: redis.Redis, prefix: str) -> None:
    """Delete this test's keys only (SCAN by pattern: a test helper, never in production)."""
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        client.unlink(key)


class RedisServer:
    """One ``redis-server`` process on a free loopback port, with its files in ``directory``.

    With ``aof=True`` every write is fsynced to the append-only file before it is acknowledged
    (``appendfsync always``), so a SIGKILL of the server loses nothing it acknowledged and a
    restart test is deterministic. ``port`` pins the port (a test that starts the server late,
    on a port its worker already dials).
    """

    def __init__(
        self, binary: str, directory: Path, *, aof: bool = False, port: int | None = None
    ) -> None:
        self.binary = binary
        self.directory = directory
        self.aof = aof
        self.port = free_port() if port is None else port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        """A client decoding replies to ``str``, with a socket timeout long enough for a test."""
        return redis.Redis(
            host="127.0.0.1", port=self.port, decode_responses=True, socket_timeout=10
        )

    def start(self) -> None:
        """Start the process and return once it answers PING."""
        args = [
            self.binary,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "yes" if self.aof else "no",
            "--appendfsync", "always",
            "--maxmemory-policy", "noeviction",
            "--daemonize", "no",
            "--logfile", str(self.directory / "redis.log"),
        ]  # fmt: skip
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = self.client()
        try:
            wait_until(
                lambda: self._answers(client),
                what=f"redis-server on port {self.port} answers PING",
                timeout=STARTUP_TIMEOUT,
                describe=self.log_tail,
                poll=0.05,
            )
        finally:
            client.close()

    def _answers(self, client: redis.Redis) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"redis-server exited at start:\n{self.log_tail()}")
        try:
            return bool(client.ping())
        except redis.ConnectionError:  # refused, or BusyLoadingError while it reads the AOF
            return False

    def kill(self) -> None:
        """SIGKILL: a crash, no shutdown work at all."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        if self.process is not None:
            self.process.wait(10)

    def restart(self) -> None:
        """Crash the server and start it again on the same port and directory."""
        self.kill()
        self.start()

    def stop(self) -> None:
        """SIGTERM (SIGKILL if it lingers): the server shuts down."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self) -> str:
        """The last lines of the server's log, for failure messages."""
        log = self.directory / "redis.log"
        lines = log.read_text(errors="replace").splitlines() if log.exists() else []
        return "redis.log:\n" + "\n".join(lines[-20:])


StartRedisServer = Callable[..., RedisServer]


@pytest.fixture(scope="session")
def private_redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server this session started (never ``$TASKQ_TEST_REDIS_URL``'s), no persistence.

    For tests that read server-wide state (INFO commandstats, MONITOR, the script cache) and
    for the crash tests, which must know nobody else's clients are on it.
    """
    server = RedisServer(redis_server_binary(), tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def private_redis_url(private_redis_server: RedisServer) -> str:
    """URL of :func:`private_redis_server`."""
    return private_redis_server.url


@pytest.fixture(scope="session")
def redis_url(request: pytest.FixtureRequest) -> str:
    """URL of the session's real redis-server: ``$TASKQ_TEST_REDIS_URL``, else a private one."""
    url = os.environ.get(REDIS_URL_ENV)
    if url:
        return reachable(url)
    return str(request.getfixturevalue("private_redis_url"))


@pytest.fixture
def start_redis_server(tmp_path: Path) -> Iterator[StartRedisServer]:
    """``start_redis_server(aof=False, port=None)``: a redis-server only this test uses.

    For tests that kill, restart or stop their server, or count its commands; every server
    started is stopped after the test.
    """
    servers: list[RedisServer] = []

    def start(*, aof: bool = False, port: int | None = None) -> RedisServer:
        directory = tmp_path / f"redis-{len(servers)}"
        directory.mkdir()
        server = RedisServer(redis_server_binary(), directory, aof=aof, port=port)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def prefix() -> str:
    """A key prefix (and Redis client name) no other test uses."""
    return new_prefix()


@contextlib.contextmanager
def locked_redis(directory: Path, password: str) -> Iterator[Path]:
    """A redis-server on a unix socket in ``directory`` that requires ``password``; its socket."""
    socket_path = directory / "redis.sock"
    argv = [redis_server_binary(), "--port", "0", "--unixsocket", str(socket_path)]
    argv += ["--save", "", "--appendonly", "no", "--dir", str(directory)]
    server = subprocess.Popen([*argv, "--requirepass", password], stdout=subprocess.DEVNULL)
    try:
        wait_until(socket_path.exists, what="the server listens on its socket")
        yield socket_path
    finally:
        server.terminate()
        server.wait(10)

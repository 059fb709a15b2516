"""Fixtures of the feature tests: apps and in-process workers on memory and on a real Redis.

The feature tests prove the issue's promises end to end, through ``Taskq``, ``Worker`` and
``AsyncResult`` as a user calls them. Most run twice, on a :class:`MemoryBroker` and on a real
``redis-server`` (``broker_kind`` is parametrized). The real server is ``TASKQ_TEST_REDIS_URL``
when set, else one this suite starts with the crash tests' harness; without either the Redis
variants skip locally and fail when ``CI`` is set. Each test uses its own key prefix and deletes
only its own keys.

Nothing here sleeps to synchronize: tests wait on events their tasks set, or poll a condition
against a deadline (:func:`wait_until`) and fail loudly at the deadline.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
import redis

from taskq_core import Taskq, Worker, hookimpl
from taskq_core.plugins import plugin_manager
from taskq_memory import MemoryBroker
from taskq_redis import RedisBroker

from ..crash.harness import RedisServer, redis_server_binary

if TYPE_CHECKING:
    from pathlib import Path

    from taskq_core import BaseBroker, Delivery, Message

REDIS_URL_ENV = "TASKQ_TEST_REDIS_URL"
#: Longest wait for any condition, in seconds; reached only when something is broken.
WAIT_TIMEOUT = 30.0
#: Pause between two looks at a polled condition, in seconds.
POLL = 0.002

#: In-process worker timings: a quick reaper and schedule poll (a lost child or a postponed
#: message comes back within a tenth of a second), short blocking reserves so ``stop()`` is
#: quick, and leases far longer than any test task.
FEATURE_WORKER: dict[str, Any] = {
    "heartbeat_interval": 1.0,
    "visibility_timeout": 10.0,
    "schedule_poll_interval": 0.1,
    "reaper_interval": 0.1,
    "block_timeout": 0.1,
    "shutdown_grace": 5.0,
}


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def wait_until(predicate: Callable[[], object], *, timeout: float = WAIT_TIMEOUT) -> None:
    """Return once ``predicate()`` is true; fail the test if it is still false at the deadline."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s: {predicate}")
        pause.wait(POLL)


def wait_for(event: threading.Event, *, timeout: float = WAIT_TIMEOUT) -> None:
    """Wait for ``event``; fail the test if it is not set in time."""
    if not event.wait(timeout):
        pytest.fail(f"event was not set within {timeout} s")


# -- Redis -----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server: ``$TASKQ_TEST_REDIS_URL``, else one started for this session.

    Skips locally when neither is available; fails when ``CI`` is set.
    """
    url = os.environ.get(REDIS_URL_ENV)
    if url:
        try:
            redis.Redis.from_url(url, socket_connect_timeout=2).ping()
        except redis.RedisError as exc:
            if in_ci():
                raise
            pytest.skip(f"Redis at {url} unreachable: {exc}")
        yield url
        return
    server = RedisServer(redis_server_binary(), tmp_path_factory.mktemp("redis"), aof=False)
    server.start()
    yield server.url
    server.stop()


@pytest.fixture
def prefix() -> str:
    """A key prefix (and Redis client name) no other test uses."""
    return f"tq-feat-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def redis_client(redis_url: str, prefix: str) -> Iterator[redis.Redis]:
    """A client of the real server; afterwards every key under this test's prefix is deleted."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        client.unlink(key)
    client.close()


# -- brokers and apps ------------------------------------------------------------------------------


class Backend:
    """The broker of one test, and how to tell that result waiters are blocked in it."""

    def __init__(
        self, kind: str, broker: BaseBroker, client: redis.Redis | None, client_name: str
    ) -> None:
        self.kind = kind
        self.broker = broker
        self._client = client
        self._client_name = client_name

    def blocked_result_waiters(self, threads: list[threading.Thread]) -> int:
        """How many of ``threads`` are blocked inside the broker waiting for a result.

        Redis: the server's own view (clients of this test's broker blocked in BLMOVE).
        Memory: the thread's innermost frame is a ``Condition.wait`` inside ``get_result``.
        """
        if self._client is not None:
            return sum(
                1
                for entry in self._client.client_list()
                if entry.get("name") == self._client_name
                and entry.get("cmd") == "blmove"
                and "b" in entry.get("flags", "")
            )
        frames = sys._current_frames()
        return sum(
            1 for t in threads if t.ident in frames and _waits_in_get_result(frames[t.ident])
        )


def _waits_in_get_result(frame: Any) -> bool:
    if frame.f_code.co_name != "wait":
        return False
    while frame is not None:
        if frame.f_code.co_name == "get_result":
            return True
        frame = frame.f_back
    return False


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest, prefix: str) -> Iterator[Backend]:
    """A broker on the system clock: in memory, then on the real Redis server."""
    if request.param == "memory":
        yield Backend("memory", MemoryBroker(), None, prefix)
        return
    client: redis.Redis = request.getfixturevalue("redis_client")
    url = request.getfixturevalue("redis_url")
    separator = "&" if "?" in url else "?"
    broker = RedisBroker.from_url(f"{url}{separator}client_name={prefix}", prefix=prefix)
    broker.connect()
    yield Backend("redis", broker, client, prefix)
    broker.close()


@pytest.fixture
def broker(backend: Backend) -> BaseBroker:
    return backend.broker


@pytest.fixture
def app(broker: BaseBroker) -> Taskq:
    """An app with no tasks yet, on ``broker``."""
    return Taskq(broker)


@pytest.fixture
def make_worker() -> Iterator[Callable[..., Worker]]:
    """``make_worker(app, **options)``: start a worker (``FEATURE_WORKER`` timings unless
    overridden); every worker started is stopped afterwards."""
    started: list[Worker] = []

    def make(app: Taskq, **options: Any) -> Worker:
        worker = Worker(app, **{**FEATURE_WORKER, **options})
        worker.start()
        started.append(worker)
        return worker

    yield make
    for worker in started:
        worker.stop(timeout=5)


# -- observing workers -----------------------------------------------------------------------------


class TaskEvents:
    """A plugin recording lifecycle hooks per message id, so tests can wait for and check them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started: Counter[str] = Counter()
        self.succeeded: dict[str, Delivery] = {}
        self.retried: dict[str, list[str]] = defaultdict(list)
        self.dead: dict[str, str] = {}

    @hookimpl
    def taskq_task_started(self, delivery: Delivery) -> None:
        with self.lock:
            self.started[delivery.id] += 1

    @hookimpl
    def taskq_task_succeeded(self, delivery: Delivery, result: object, runtime: float) -> None:
        with self.lock:
            self.succeeded[delivery.id] = delivery

    @hookimpl
    def taskq_task_retried(self, delivery: Delivery, error: str, delay: float) -> None:
        with self.lock:
            self.retried[delivery.id].append(error)

    @hookimpl
    def taskq_task_dead(self, message: Message, reason: str) -> None:
        with self.lock:
            self.dead[message.id] = reason


@pytest.fixture
def events() -> Iterator[TaskEvents]:
    """Lifecycle hooks seen during this test (registered on the process-wide plugin manager)."""
    plugin = TaskEvents()
    plugin_manager().register(plugin)
    yield plugin
    plugin_manager().unregister(plugin)


@pytest.fixture
def in_rootdir(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from the repository root, where ``tests.features.*`` is importable by a child."""
    root: Path = request.config.rootpath
    monkeypatch.chdir(root)
    return root

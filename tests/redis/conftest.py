"""Redis test fixtures: an in-process fakeredis server, and a real server from the environment.

Real-Redis tests read ``TASKQ_TEST_REDIS_URL``. Locally they skip when it is unset or the
server is down; with ``CI`` set they fail instead, so a CI run can never pass by skipping them.
Every test uses its own key prefix and deletes only keys under it: the server may be shared,
so nothing here ever flushes a database.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import fakeredis
import fakeredis.aioredis
import pytest
import redis
from redis.backoff import ConstantBackoff
from redis.client import Pipeline
from redis.retry import Retry

from taskq_core.broker import BaseBroker
from taskq_core.clock import Clock
from taskq_redis import RedisBroker
from taskq_redis.keys import queue_keys, queues_key

REDIS_URL_ENV = "TASKQ_TEST_REDIS_URL"


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


@pytest.fixture
def prefix() -> str:
    """A key prefix no other test (or engineer) uses."""
    return f"tq-test-{uuid.uuid4().hex[:12]}"


class FakeRedis(fakeredis.FakeRedis):
    """fakeredis whose BLMOVE blocks.

    fakeredis 2.41's BLMOVE returns ``None`` at once on an empty list instead of blocking (its
    BRPOPLPUSH blocks correctly), which would turn ``get_result``'s wait into a busy loop. On a
    one-element list, the rotation ``BLMOVE k k RIGHT RIGHT`` that results.py uses is exactly
    ``BRPOPLPUSH k k``, so that is what this double sends. The real server runs BLMOVE itself
    (tests/redis/test_results.py).
    """

    def execute_command(self, *args: Any, **options: Any) -> Any:
        if str(args[0]).upper() == "BLMOVE" and len(args) == 6:
            _, first, second, src, dest, timeout = args
            if first == second and (src, dest) == ("RIGHT", "RIGHT"):
                return super().execute_command("BRPOPLPUSH", first, second, timeout, **options)
        return super().execute_command(*args, **options)


class FakeAsyncRedis(fakeredis.aioredis.FakeRedis):
    """The asyncio twin of :class:`FakeRedis`: its BLMOVE rotation blocks (as BRPOPLPUSH)."""

    async def blmove(
        self,
        first_list: Any,
        second_list: Any,
        timeout: Any,
        src: str = "LEFT",
        dest: str = "RIGHT",
    ) -> Any:
        if first_list == second_list and (src, dest) == ("RIGHT", "RIGHT"):
            return await self.brpoplpush(first_list, second_list, timeout)
        return await super().blmove(first_list, second_list, timeout, src, dest)


def fake_broker_on(server: fakeredis.FakeServer, prefix: str, clock: Clock | None) -> RedisBroker:
    """A RedisBroker on ``server`` whose asyncio producer uses the same fake server."""
    return RedisBroker(
        FakeRedis(server=server),
        prefix=prefix,
        clock=clock,
        async_client=lambda: FakeAsyncRedis(server=server),
    )


@pytest.fixture
def fake_server() -> fakeredis.FakeServer:
    """A fresh in-process Redis (Lua through lupa): isolated, no cleanup needed."""
    return fakeredis.FakeServer()


@pytest.fixture
def fake_client(fake_server: fakeredis.FakeServer) -> FakeRedis:
    return FakeRedis(server=fake_server)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of a real redis-server: skip locally without one, fail in CI."""
    url = os.environ.get(REDIS_URL_ENV)
    if not url:
        if in_ci():
            raise RuntimeError(f"{REDIS_URL_ENV} must be set in CI: the real-Redis tests need it")
        pytest.skip(f"{REDIS_URL_ENV} not set; real-Redis tests skipped")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        if in_ci():
            raise
        pytest.skip(f"Redis at {url} unreachable: {exc}")
    return url


@pytest.fixture
def real_client(redis_url: str, prefix: str) -> Iterator[redis.Redis]:
    """A client of the real server; afterwards every key under this test's prefix is deleted."""
    client = redis.Redis.from_url(redis_url)
    yield client
    delete_prefix(client, prefix)
    client.close()


def delete_prefix(client: redis.Redis, prefix: str) -> None:
    """Delete this test's keys only (SCAN by pattern: a test helper, never in production)."""
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        client.delete(key)


BrokerBuilder = Callable[[Clock | None], RedisBroker]


@pytest.fixture
def fake_broker(fake_client: FakeRedis, prefix: str) -> Iterator[RedisBroker]:
    """A connected broker on fakeredis with server time (no test clock)."""
    with RedisBroker(fake_client, prefix=prefix) as broker:
        yield broker


@pytest.fixture
def raw_payload_writer() -> Callable[[BaseBroker, str, str, str], None]:
    """The conformance suite's ``inject_raw_payload`` for a RedisBroker."""
    return write_raw_payload


@pytest.fixture
def prefix_deleter() -> Callable[[redis.Redis, str], None]:
    """Deletes every key under a prefix (for fixtures that make several brokers)."""
    return delete_prefix


def write_raw_payload(broker: BaseBroker, queue: str, message_id: str, raw: str) -> None:
    """Back door for the conformance suite: raw text in READY, written behind send's back."""
    assert isinstance(broker, RedisBroker)
    keys = queue_keys(broker.prefix, queue)
    pipe = broker.client.pipeline(transaction=True)
    pipe.sadd(queues_key(broker.prefix), queue)
    pipe.hset(keys.payloads, message_id, raw)
    pipe.rpush(keys.ready_for(0), message_id)
    pipe.zadd(keys.marker, {"r": 0})
    pipe.execute()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on (free a moment ago)."""
    return free_port()


@pytest.fixture(scope="session")
def private_redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A redis-server of our own, for tests that read server-wide stats or stop the server.

    Skips locally without the binary; fails in CI.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        if in_ci():
            raise RuntimeError("redis-server must be installed in CI")
        pytest.skip("redis-server not installed")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    options = ["--bind", "127.0.0.1", "--port", str(port), "--dir", str(workdir)]
    options += ["--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction"]
    process = subprocess.Popen(
        [binary, *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    # Readiness through redis-py's own retry: up to ~10 s of reconnects, then the test errors.
    waiting = redis.Redis.from_url(url, retry=Retry(ConstantBackoff(0.05), 200))
    try:
        waiting.ping()
        yield url
    finally:
        waiting.close()
        process.terminate()
        process.wait(timeout=30)


class BlockSignal:
    """Sets ``blocked`` each time a BZPOPMIN or BLMOVE is about to be sent, so a test acts
    mid-wait, and counts the BLMOVEs (a result waiter that spun would send many)."""

    def __init__(self) -> None:
        self.blocked = threading.Event()
        self.blmoves = 0


def signal_blocking(signal: BlockSignal, args: tuple[Any, ...]) -> None:
    """Record a blocking command (BZPOPMIN, BLMOVE) about to be sent."""
    name = str(args[0]).upper()
    if name == "BLMOVE":
        signal.blmoves += 1
    if name in ("BZPOPMIN", "BLMOVE"):
        signal.blocked.set()


class SignallingFakeRedis(FakeRedis):
    signal: BlockSignal

    def execute_command(self, *args: Any, **options: Any) -> Any:
        signal_blocking(self.signal, args)
        return super().execute_command(*args, **options)


class SignallingRedis(redis.Redis):
    signal: BlockSignal

    def execute_command(self, *args: Any, **options: Any) -> Any:
        signal_blocking(self.signal, args)
        return super().execute_command(*args, **options)


@pytest.fixture(params=["fakeredis", pytest.param("real", marks=pytest.mark.redis)])
def signalling_client(request: pytest.FixtureRequest, prefix: str) -> Iterator[redis.Redis]:
    """A client (fakeredis, then the real server) that announces each blocking wait.

    Its socket timeout is long, so brokers built on it may block for up to a minute.
    """
    if request.param == "fakeredis":
        fake = SignallingFakeRedis(server=fakeredis.FakeServer())
        fake.signal = BlockSignal()
        yield fake
        return
    url = request.getfixturevalue("redis_url")
    client = SignallingRedis.from_url(url, socket_timeout=90)
    client.signal = BlockSignal()
    yield client
    delete_prefix(client, prefix)
    client.close()


def client_commands(url: str, action: Callable[[], object]) -> list[str]:
    """The commands clients sent to ``url`` while ``action`` ran, in order, as MONITOR saw them.

    Commands a script ran are left out: this is what went over the wire. Run it on a server of
    the test's own (``private_redis_url``): MONITOR sees every client.
    """
    watcher = redis.Redis.from_url(url, socket_timeout=30)
    sender = redis.Redis.from_url(url)
    sender.ping()  # connected (handshake done) before MONITOR starts
    sentinel = f"end-of-action-{uuid.uuid4().hex}"
    seen: list[str] = []
    with watcher.monitor() as monitor:
        action()
        sender.echo(sentinel)
        while True:
            entry = monitor.next_command()
            if sentinel in entry["command"]:
                break
            if entry["client_type"] != "lua":
                seen.append(entry["command"])
    watcher.close()
    sender.close()
    return seen


def calls_during(url: str, action: Callable[[], object]) -> dict[str, int]:
    """How often EVALSHA and BZPOPMIN ran on ``url`` while ``action`` ran (INFO commandstats).

    commandstats also counts the commands scripts run; these two only clients send. Use a
    server of the test's own (``private_redis_url``).
    """

    def calls(client: redis.Redis) -> dict[str, int]:
        stats = client.info("commandstats")
        return {name.removeprefix("cmdstat_"): int(stat["calls"]) for name, stat in stats.items()}

    stats = redis.Redis.from_url(url)
    before = calls(stats)
    action()
    after = calls(stats)
    stats.close()
    return {name: after.get(name, 0) - before.get(name, 0) for name in ("evalsha", "bzpopmin")}


@pytest.fixture
def pipeline_sizes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Fills with the number of commands of each pipeline executed from now on."""
    sizes: list[int] = []
    original = Pipeline.execute

    def counting_execute(self: Pipeline, *args: Any, **kwargs: Any) -> Any:
        sizes.append(len(self.command_stack))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Pipeline, "execute", counting_execute)
    return sizes


def with_query(url: str, **options: str) -> str:
    """``url`` with extra query options (``client_name=...``)."""
    extra = "&".join(f"{name}={value}" for name, value in options.items())
    return f"{url}{'&' if '?' in url else '?'}{extra}"

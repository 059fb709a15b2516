"""Redis test fixtures: an in-process fakeredis server, and clients of the real server.

The real server is the root conftest's ``redis_url`` (``$TASKQ_TEST_REDIS_URL``, else one the
session starts); tests that read server-wide stats use ``private_redis_url``, a server the
session started itself (``tests/support/redis_server.py``). Every test uses its own key prefix
and deletes only keys under it: the server may be shared, so nothing here flushes a database.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import fakeredis
import fakeredis.aioredis
import pytest
import redis
from redis.client import Pipeline

from taskq_core.broker import BaseBroker
from taskq_core.clock import Clock
from taskq_redis import RedisBroker
from taskq_redis.keys import queue_keys, queues_key

from ..support.redis_server import delete_prefix, free_port


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


@pytest.fixture
def real_client(redis_url: str, prefix: str) -> Iterator[redis.Redis]:
    """A client of the real server; afterwards every key under this test's prefix is deleted."""
    client = redis.Redis.from_url(redis_url)
    yield client
    delete_prefix(client, prefix)
    client.close()


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


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on (free a moment ago)."""
    return free_port()


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


class AnnouncesBlocking:
    """Mixed into a Redis client class: tell ``signal`` before each BZPOPMIN and BLMOVE."""

    signal: BlockSignal

    def execute_command(self, *args: Any, **options: Any) -> Any:
        signal_blocking(self.signal, args)
        return super().execute_command(*args, **options)  # type: ignore[misc]


class SignallingFakeRedis(AnnouncesBlocking, FakeRedis):
    """fakeredis announcing its blocking waits."""


class SignallingRedis(AnnouncesBlocking, redis.Redis):
    """redis-py announcing its blocking waits."""


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

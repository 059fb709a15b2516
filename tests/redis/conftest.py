"""Redis test fixtures: an in-process fakeredis server, and a real server from the environment.

Real-Redis tests read ``TASKQ_TEST_REDIS_URL``. Locally they skip when it is unset or the
server is down; with ``CI`` set they fail instead, so a CI run can never pass by skipping them.
Every test uses its own key prefix and deletes only keys under it: the server may be shared,
so nothing here ever flushes a database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import fakeredis
import pytest
import redis

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


@pytest.fixture
def fake_server() -> fakeredis.FakeServer:
    """A fresh in-process Redis (Lua through lupa): isolated, no cleanup needed."""
    return fakeredis.FakeServer()


@pytest.fixture
def fake_client(fake_server: fakeredis.FakeServer) -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis(server=fake_server)


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
def fake_broker(fake_client: fakeredis.FakeRedis, prefix: str) -> Iterator[RedisBroker]:
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

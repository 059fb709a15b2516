"""The Redis asyncio producer's internals: clients per loop, errors, the script cache.

Its promises (sends, waits, loops) are in the conformance suite; these tests cover what only
the Redis backend does.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff

from taskq_core.errors import BrokerUnavailable, ConfigurationError
from taskq_core.schemas import Message
from taskq_redis import RedisBroker

if TYPE_CHECKING:
    from .conftest import FakeRedis


def test_a_broker_given_a_client_needs_async_client(fake_client: FakeRedis) -> None:
    # Given a broker built from a client object, without an asyncio client factory
    broker = RedisBroker(fake_client, prefix="no-async")
    # When its asyncio producer is asked for, then the error says what to pass
    with pytest.raises(ConfigurationError, match=r"pass async_client="):
        broker.async_producer()


def test_a_lost_connection_is_one_broker_unavailable_line(unused_port: int) -> None:
    # Given an asyncio producer whose server is gone (and a client that does not retry)
    def client() -> redis.asyncio.Redis:
        return redis.asyncio.Redis(port=unused_port, retry=AsyncRetry(NoBackoff(), 0))

    broker = RedisBroker(redis.Redis(port=unused_port), prefix="gone", async_client=client)
    producer = broker.async_producer()
    # When it sends or waits, then it fails with one line naming the server
    with pytest.raises(BrokerUnavailable, match=rf"^lost Redis at localhost:{unused_port}: "):
        asyncio.run(producer.asend(Message.build(task="t", queue="jobs")))
    with pytest.raises(BrokerUnavailable, match=rf"^lost Redis at localhost:{unused_port}: "):
        asyncio.run(producer.aget_result("some-id", timeout=1.0))


@pytest.mark.redis
def test_sends_reload_scripts_after_the_cache_was_flushed(
    redis_url: str, prefix: str, real_client: redis.Redis
) -> None:
    # Given a producer that has sent once (its scripts are cached on the server)
    broker = RedisBroker.from_url(redis_url, prefix=prefix)
    producer = broker.async_producer()
    first, second, third = (Message.build(task="t", queue="jobs") for _ in range(3))

    async def send_again() -> list[bool]:
        return [await producer.asend(second), *await producer.asend_batch([third, first])]

    try:
        assert asyncio.run(producer.asend(first)) is True
        # When the script cache is emptied (a restart, a failover, SCRIPT FLUSH)
        real_client.script_flush()
        # Then a single send and a batch still run their scripts, each once
        assert asyncio.run(send_again()) == [True, True, False]
        assert broker.counts("jobs").ready == 3
    finally:
        broker.close()

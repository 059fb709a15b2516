"""taskq behind Sentinel: the conformance suite, and a failover mid-run loses no accepted task."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from taskq_core.schemas import Message
from taskq_core.testing import BrokerConformance, BrokerFactory
from taskq_redis import RedisBroker

from ..support.drain import drain_across
from ..support.redis_server import brokers_from
from ..support.sentinel import SentinelSetup, redis_sentinel  # noqa: F401 - the session fixture

#: Tasks sent before the failover (a quarter as many are sent after it).
TASKS = 200


@pytest.mark.redis
class TestSentinelBroker(BrokerConformance):
    """Every contract test through a ``redis+sentinel://`` URL (primary found by Sentinel)."""

    @pytest.fixture
    def make_broker(self, redis_sentinel: SentinelSetup) -> Iterator[BrokerFactory]:  # noqa: F811
        yield from brokers_from(redis_sentinel.url)


def sentinel_clients(setup: SentinelSetup) -> set[str]:
    """The addresses of the clients connected to the Sentinel now (the one asking aside)."""
    listed = setup.cli(setup.sentinel, "client", "list").splitlines()
    return {
        field
        for line in listed
        if "cmd=client|list" not in line
        for field in line.split()
        if field.startswith("addr=")
    }


@pytest.mark.redis
def test_a_closed_broker_leaves_no_connection_to_the_sentinel(
    redis_sentinel: SentinelSetup,  # noqa: F811
) -> None:
    # Given a broker that asked the Sentinel for the primary, from sync and asyncio code
    before = sentinel_clients(redis_sentinel)
    broker = RedisBroker.from_url(redis_sentinel.url, prefix=f"tq-test-{uuid.uuid4().hex[:8]}")
    assert broker.send(Message.build(task="t"))

    async def send_and_end_the_loop() -> None:
        assert await broker.async_producer().asend(Message.build(task="t"))

    asyncio.run(send_and_end_the_loop())
    assert sentinel_clients(redis_sentinel) - before
    # When it is closed, then so are its connections to the Sentinel
    broker.close()
    assert sentinel_clients(redis_sentinel) - before == set()


@pytest.mark.redis
@pytest.mark.slow
def test_a_failover_mid_run_completes_every_accepted_task(
    redis_sentinel: SentinelSetup,  # noqa: F811
) -> None:
    # Given tasks accepted through the Sentinel URL, replicated to the replica
    prefix = f"tq-test-{uuid.uuid4().hex[:8]}"
    broker = RedisBroker.from_url(redis_sentinel.url, prefix=prefix)
    messages = [Message.build(task="t", queue="jobs") for _ in range(TASKS)]
    assert all(broker.send_batch(messages))
    sent = {message.id for message in messages}  # (grows with the sends after the failover)
    assert broker.client.execute_command("WAIT", 1, 10_000) == 1
    later = [Message.build(task="t", queue="jobs") for _ in range(TASKS // 4)]

    def fail_over_then_send() -> None:
        old = redis_sentinel.primary_port()
        assert redis_sentinel.failover() != old
        assert all(broker.send_batch(later))
        sent.update(message.id for message in later)

    # When the Sentinel fails the primary over while a worker drains the queue (a quarter of
    # the tasks before, a quarter during, the rest after), and more tasks are sent after it
    drain = drain_across(broker, "jobs", sent, fail_over_then_send)
    # Then every accepted task completes, acked on the new primary
    assert drain.acked == sent, drain.missing(sent)
    assert broker.counts("jobs").processing == 0
    assert broker.counts("jobs").ready == 0
    broker.close()

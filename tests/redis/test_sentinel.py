"""taskq behind Sentinel: a failover mid-run loses no accepted task."""

from __future__ import annotations

import uuid

import pytest

from taskq_core.schemas import Message
from taskq_redis import RedisBroker

from ..support.drain import drain_across
from ..support.sentinel import SentinelSetup, redis_sentinel  # noqa: F401 - the session fixture

#: Tasks sent before the failover (a quarter as many are sent after it).
TASKS = 200


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

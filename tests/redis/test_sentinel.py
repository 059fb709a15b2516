"""taskq behind Sentinel: a failover mid-run loses no accepted task."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from taskq_core.schemas import Message
from taskq_redis import RedisBroker

from ..support.sentinel import SentinelSetup, redis_sentinel  # noqa: F401 - the session fixture

#: Longest the drain around the failover may take.
DRAIN_SECONDS = 120.0
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
    # And a worker draining them a few at a time: a quarter before the failover, a quarter
    # while it runs, the rest after it
    acked: set[str] = set()
    errors: list[BaseException] = []
    quarter, failing_over, failed_over, done = (threading.Event() for _ in range(4))

    def drain() -> None:
        deadline = time.monotonic() + DRAIN_SECONDS
        while acked != sent and time.monotonic() < deadline:
            if len(acked) >= TASKS // 4:
                quarter.set()
                failing_over.wait(DRAIN_SECONDS)
            if len(acked) >= TASKS // 2:
                failed_over.wait(DRAIN_SECONDS)
            try:
                broker.recover_expired("jobs")
                for delivery in broker.reserve(
                    ["jobs"], worker_id="w", lease=2.0, limit=5, timeout=0.5
                ):
                    broker.ack(delivery)  # False when the failover lost the lease: runs again
                    acked.add(delivery.id)
            except Exception as exc:  # a failover error, which a worker logs and retries
                errors.append(exc)
        done.set()

    worker = threading.Thread(target=drain, daemon=True)
    worker.start()
    assert quarter.wait(DRAIN_SECONDS), "the drain never got a quarter of the way"
    # When the Sentinel fails the primary over mid-run
    old = redis_sentinel.primary_port()
    failing_over.set()
    new = redis_sentinel.failover()
    assert new != old
    # And more tasks are accepted after it
    later = [Message.build(task="t", queue="jobs") for _ in range(TASKS // 4)]
    assert all(broker.send_batch(later))
    sent |= {message.id for message in later}
    failed_over.set()
    # Then every accepted task completes, acked on the new primary
    assert done.wait(DRAIN_SECONDS), "the drain did not finish"
    assert acked == sent, f"{len(sent - acked)} tasks never completed; errors: {errors[:3]}"
    assert broker.counts("jobs").processing == 0
    assert broker.counts("jobs").ready == 0
    broker.close()

"""Round trips and bounded scripts: pipelined sends, batches past the 1000-per-call bound,
and ack-and-reserve in one round trip."""

from __future__ import annotations

import pytest
import redis

from taskq_core.clock import FakeClock
from taskq_core.schemas import Message
from taskq_redis import RedisBroker

#: More than one script call's worth (1000) and one pipeline's worth (500) of messages.
MANY = 1_200


def messages(count: int, queue: str = "bulk") -> list[Message]:
    return [Message.build(task="t", queue=queue, args=(n,)) for n in range(count)]


@pytest.fixture
def broker(fake_client: redis.Redis, prefix: str) -> RedisBroker:
    return RedisBroker(fake_client, prefix=prefix, clock=FakeClock())


def test_send_batch_is_one_pipelined_round_trip_per_chunk(
    broker: RedisBroker, monkeypatch: pytest.MonkeyPatch, pipeline_sizes: list[int]
) -> None:
    # Given a warm script cache (a cold one costs a SCRIPT LOAD and a re-send once)
    assert broker.send(messages(1)[0])
    # And a count of pipeline round trips, with single commands made to fail
    pipeline_sizes.clear()
    monkeypatch.setattr(broker.client, "execute_command", None)  # any single command fails
    # When 1200 messages are sent as a batch
    assert broker.send_batch(messages(1200)) == [True] * 1200
    # Then three pipelines carried them (500 + 500 + 200 sends, each with one SADD)
    assert pipeline_sizes == [501, 501, 201]


def test_send_batch_reports_duplicates_one_by_one(broker: RedisBroker) -> None:
    batch = messages(3)
    assert broker.send(batch[1])
    assert broker.send_batch(batch) == [True, False, True]


def test_batches_larger_than_one_script_call_go_through_every_operation(
    broker: RedisBroker,
) -> None:
    # Given more messages than one bounded script call handles
    assert all(broker.send_batch(messages(MANY)))
    # Then each operation loops over bounded calls and sees them all
    held = broker.reserve(["bulk"], worker_id="w", lease=10.0, limit=MANY)
    assert len(held) == MANY
    assert [delivery.message.args[0] for delivery in held] == list(range(MANY))
    assert broker.extend_lease(held, lease=10.0) == [True] * MANY
    assert broker.release(held) == MANY
    held = broker.reserve(["bulk"], worker_id="w", lease=10.0, limit=MANY)
    for delivery in held:
        broker.dead(delivery, reason="bulk test")
    assert broker.requeue_dead("bulk") == MANY
    assert broker.counts("bulk").ready == MANY
    assert broker.purge("bulk") == MANY
    assert broker.counts("bulk").ready == 0


def test_recovery_past_one_script_call(broker: RedisBroker) -> None:
    assert broker.clock is not None
    broker.send_batch(messages(MANY))
    broker.reserve(["bulk"], worker_id="w", lease=1.0, limit=MANY)
    broker.clock.advance(2.0)  # type: ignore[attr-defined]
    report = broker.recover_expired("bulk", limit=MANY)
    assert len(set(report.requeued)) == MANY
    again = broker.reserve(["bulk"], worker_id="w", lease=1.0, limit=MANY)
    assert sorted(delivery.message.args[0] for delivery in again) == list(range(MANY))
    # (each slice of 1000 keeps its order at the front; later slices land ahead of earlier ones)
    assert [delivery.message.args[0] for delivery in again[:3]] == [1000, 1001, 1002]


def test_ack_and_reserve_acks_and_takes_the_next_batch_in_one_round_trip(
    broker: RedisBroker, pipeline_sizes: list[int]
) -> None:
    # Given a held delivery and more work behind it, scripts already loaded by an earlier ack
    broker.send_batch(messages(4))
    _, (first,) = broker.ack_and_reserve(
        broker.reserve(["bulk"], worker_id="w", lease=10.0)[0], ["bulk"], lease=10.0
    )
    pipeline_sizes.clear()
    # When it is acked together with the next reserve
    acked, following = broker.ack_and_reserve(first, ["bulk"], lease=10.0, limit=2)
    # Then one pipeline of two scripts did both
    assert acked is True
    assert [delivery.message.args for delivery in following] == [(2,), (3,)]
    assert pipeline_sizes == [2]
    assert broker.counts("bulk").processing == 2


def test_ack_and_reserve_refuses_a_lost_lease_but_still_reserves(broker: RedisBroker) -> None:
    broker.send_batch(messages(2))
    first = broker.reserve(["bulk"], worker_id="w", lease=10.0)[0]
    broker.release([first])
    acked, following = broker.ack_and_reserve(first, ["bulk"], lease=10.0)
    assert acked is False
    assert [delivery.id for delivery in following] == [first.id]

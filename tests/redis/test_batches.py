"""Round trips and bounded scripts: pipelined sends, batches past the 1000-per-call bound,
and ack-and-reserve in one round trip."""

from __future__ import annotations

import pytest
import redis

from taskq_core.clock import FakeClock
from taskq_core.schemas import Message
from taskq_redis import RedisBroker

from .conftest import calls_during

#: More than one script call's worth (1000) and one pipeline's worth (500) of messages.
MANY = 1_200


def messages(count: int, queue: str = "bulk") -> list[Message]:
    return [Message.build(task="t", queue=queue, args=(n,)) for n in range(count)]


@pytest.fixture
def broker(fake_client: redis.Redis, prefix: str) -> RedisBroker:
    return RedisBroker(fake_client, prefix=prefix, clock=FakeClock())


def test_send_batch_is_one_script_call_per_chunk(
    broker: RedisBroker, monkeypatch: pytest.MonkeyPatch, pipeline_sizes: list[int]
) -> None:
    # Given a warm script cache and a queue this broker already added to the queue set
    assert broker.send_batch(messages(2)) == [True, True]
    # And a count of single commands and of pipeline round trips
    pipeline_sizes.clear()
    sent: list[str] = []
    original = broker.client.execute_command

    def counting(*args: object, **options: object) -> object:
        sent.append(str(args[0]))
        return original(*args, **options)

    monkeypatch.setattr(broker.client, "execute_command", counting)
    # When 1200 messages are sent as a batch
    assert broker.send_batch(messages(1200)) == [True] * 1200
    # Then two script calls carried them (1000 + 200) in one round trip, with no SADD (a
    # fakeredis client sends them as one pipeline; a real one streams them, see below)
    assert sent == []
    assert pipeline_sizes == [2]


@pytest.mark.redis
def test_send_batch_streams_one_script_call_per_chunk_to_a_real_server(
    private_redis_url: str, prefix: str
) -> None:
    # Given a broker that already sent to the queue (scripts loaded, queue announced)
    broker = RedisBroker.from_url(private_redis_url, prefix=prefix)
    assert broker.send_batch(messages(2)) == [True, True]
    # When 2500 messages are sent as a batch, some of them twice
    batch = messages(2500)
    sent = calls_during(private_redis_url, lambda: broker.send_batch([*batch, *batch[:10]]))
    # Then three script calls (1000 + 1000 + 510) wrote each message once
    assert sent["evalsha"] == 3, sent
    assert broker.counts("bulk").ready == 2502
    broker.close()


def test_a_new_queue_is_added_to_the_queue_set_in_the_same_round_trip(
    broker: RedisBroker, fake_client: redis.Redis, prefix: str, pipeline_sizes: list[int]
) -> None:
    # Given a broker that has sent nothing yet, on a server whose script cache is warm
    warm = RedisBroker(fake_client, prefix=f"{prefix}-warm", clock=FakeClock())
    assert warm.send_batch(messages(2)) == [True, True]
    assert warm.send(messages(1)[0])
    pipeline_sizes.clear()
    # When it sends to two queues, then once more to the first
    assert broker.send_batch([*messages(2), *messages(1, queue="other")]) == [True] * 3
    assert broker.send(messages(1)[0])
    # Then the first round trip carried the SADD and one script per queue, the second neither
    assert pipeline_sizes == [3]
    assert broker.queues() == ["bulk", "other"]


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

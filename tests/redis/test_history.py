"""The per-minute history hash stays bounded however long a queue runs."""

from __future__ import annotations

import fakeredis

from taskq_core.clock import FakeClock
from taskq_core.schemas import HISTORY_MINUTES, Message
from taskq_redis import RedisBroker
from taskq_redis.keys import queue_keys

#: Fields the history hash holds at most: three kinds per kept minute, plus `#minute`.
MAX_FIELDS = 3 * HISTORY_MINUTES + 1


def test_history_hash_keeps_only_the_last_minutes(
    fake_client: fakeredis.FakeRedis, prefix: str
) -> None:
    """Outcomes over 300 minutes leave at most HISTORY_MINUTES minutes of fields behind."""
    # Given a queue with an ack, a retry and a death in each of 300 consecutive minutes
    clock = FakeClock()
    broker = RedisBroker(fake_client, prefix=prefix, clock=clock)
    for _ in range(300):
        broker.send_batch([Message(task="t", queue="q") for _ in range(3)])
        held = broker.reserve(["q"], worker_id="w", lease=30.0, limit=3)
        broker.ack(held[0])
        broker.retry(held[1], delay=1000.0)
        broker.dead(held[2], reason="boom")
        clock.advance(60.0)
    # When the history hash is inspected
    fields = fake_client.hlen(queue_keys(prefix, "q").history)
    # Then it holds no more than the kept minutes, and those still count every outcome
    assert fields <= MAX_FIELDS
    history = broker.history("q", minutes=HISTORY_MINUTES)
    assert sum(m.succeeded for m in history) == HISTORY_MINUTES - 1
    assert sum(m.failed for m in history) == HISTORY_MINUTES - 1


def test_a_gap_longer_than_the_window_drops_every_old_minute(
    fake_client: fakeredis.FakeRedis, prefix: str
) -> None:
    """After a silence longer than the window, one new outcome leaves only its own minute."""
    # Given acks in ten minutes, then a day of silence, then one more ack
    clock = FakeClock()
    broker = RedisBroker(fake_client, prefix=prefix, clock=clock)
    for _ in range(10):
        broker.send(Message(task="t", queue="q"))
        broker.ack(broker.reserve(["q"], worker_id="w", lease=30.0)[0])
        clock.advance(60.0)
    clock.advance(86400.0)
    broker.send(Message(task="t", queue="q"))
    broker.ack(broker.reserve(["q"], worker_id="w", lease=30.0)[0])
    # Then the hash holds that minute's count and the newest-minute marker only
    assert fake_client.hlen(queue_keys(prefix, "q").history) == 2

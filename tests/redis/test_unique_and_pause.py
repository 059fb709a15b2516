"""Unique keys and the pause flag on Redis: where they live and that their records stay bounded."""

from __future__ import annotations

import redis

from taskq_core.clock import FakeClock
from taskq_core.schemas import Message
from taskq_core.unique import UniqueClaim
from taskq_redis import RedisBroker
from taskq_redis.keys import queue_keys

#: Holds left to expire in the trimming test: more than one send's worth of trimming (100).
ENDED_HOLDS = 250


def message() -> Message:
    return Message.build(task="t", queue="jobs")


def test_a_hold_lives_in_the_queues_unique_hash_and_its_end_in_unique_until(
    fake_broker: RedisBroker, fake_client: redis.Redis, prefix: str
) -> None:
    # Given a message sent with a unique key held until done
    keys = queue_keys(prefix, "jobs")
    sent = message()
    fake_broker.send_unique(sent, UniqueClaim(key="user:42", ttl=60.0))
    now = fake_broker.now()

    # Then the key names the holder, its end is 60 s away, and the message's state records it
    assert fake_client.hgetall(keys.unique) == {b"user:42": sent.id.encode()}
    [(key, end)] = fake_client.zrange(keys.unique_until, 0, -1, withscores=True)
    assert key == b"user:42"
    assert abs(end - (now + 60.0)) < 5.0
    assert fake_client.hget(keys.state, f"{sent.id}:u") == b"user:42"


def test_a_key_held_until_its_ttl_is_not_recorded_in_the_message_state(
    fake_broker: RedisBroker, fake_client: redis.Redis, prefix: str
) -> None:
    # Given a message whose key is held until its TTL
    sent = message()
    fake_broker.send_unique(sent, UniqueClaim(key="k", ttl=60.0, until="ttl"))
    # Then no ack will look for it: the state has no `u` field
    assert fake_client.hget(queue_keys(prefix, "jobs").state, f"{sent.id}:u") is None


def test_unique_sends_trim_ended_holds_so_the_records_stay_bounded(
    fake_client: redis.Redis, prefix: str
) -> None:
    # Given many holds whose TTL has run out
    clock = FakeClock(1_800_000_000.0)
    broker = RedisBroker(fake_client, prefix=prefix, clock=clock)
    keys = queue_keys(prefix, "jobs")
    for n in range(ENDED_HOLDS):
        broker.send_unique(message(), UniqueClaim(key=f"k{n}", ttl=1.0, until="ttl"))
    clock.advance(2.0)

    # When further unique sends come, each trims at most 100 ended holds
    broker.send_unique(message(), UniqueClaim(key="fresh-1", ttl=60.0))
    after_one = fake_client.hlen(keys.unique)
    broker.send_unique(message(), UniqueClaim(key="fresh-2", ttl=60.0))
    broker.send_unique(message(), UniqueClaim(key="fresh-3", ttl=60.0))

    # Then the first trimmed 100, and three sends left only the live holds
    assert after_one == ENDED_HOLDS - 100 + 1
    assert fake_client.hlen(keys.unique) == 3
    assert fake_client.zcard(keys.unique_until) == 3


def test_pause_is_a_field_of_the_queue_meta_hash(
    fake_broker: RedisBroker, fake_client: redis.Redis, prefix: str
) -> None:
    # Given a capped queue
    meta = queue_keys(prefix, "jobs").meta
    fake_broker.set_queue_limit("jobs", max_in_flight=3)
    # When it is paused and resumed
    fake_broker.pause("jobs")
    paused = fake_client.hgetall(meta)
    fake_broker.resume("jobs")
    # Then the flag sits next to the cap while paused, and the cap survives the resume
    assert paused == {b"max_in_flight": b"3", b"paused": b"1"}
    assert fake_client.hgetall(meta) == {b"max_in_flight": b"3"}

"""The invariant checker itself: it passes a sound queue and names each kind of breakage.

A checker that was never seen failing proves nothing, so each invariant is broken here on
purpose, by writing to the queue's keys directly (no workers involved).
"""

from __future__ import annotations

import json

import pytest

from taskq_redis.keys import result_key

pytestmark = [pytest.mark.redis]


@pytest.fixture
def sound(crash):
    """One message in each state (ready, scheduled, processing, dead, acked with a result)."""
    ids = {place: crash.send("crash.work") for place in ("processing", "dead", "acked", "ready")}
    ids["scheduled"] = crash.send("crash.work", countdown=600.0)
    held = {d.id: d for d in crash.broker.reserve([crash.queue], worker_id="w", lease=600, limit=3)}
    assert set(held) == {ids["processing"], ids["dead"], ids["acked"]}
    assert crash.broker.dead(held[ids["dead"]], reason="test")
    assert crash.broker.ack(held[ids["acked"]])
    record = {"id": ids["acked"], "token": 1, "worker": "w"}
    crash.redis.sadd(f"{crash.test_base}:acked", json.dumps(record, sort_keys=True))
    crash.redis.rpush(result_key(crash.prefix, ids["acked"]), "{}")  # a kept result expires
    crash.redis.expire(result_key(crash.prefix, ids["acked"]), 600)
    return ids


def test_a_sound_queue_passes(crash, sound):
    assert crash.check_invariants() == {message_id: place for place, message_id in sound.items()}


BREAKAGES = {
    "in two states": (
        lambda crash, ids: crash.redis.rpush(crash.keys.ready_for(0), ids["processing"]),
        "in ['ready', 'processing']",
    ),
    "twice in READY": (
        lambda crash, ids: crash.redis.rpush(crash.keys.ready_for(3), ids["ready"]),
        "in ['ready', 'ready']",
    ),
    "lost": (
        lambda crash, ids: crash.redis.lrem(crash.keys.ready_for(0), 0, ids["ready"]),
        "no state at all (lost)",
    ),
    "acked and still in a state": (
        lambda crash, ids: crash.redis.zadd(crash.keys.dead, {ids["acked"]: 1}),
        "in ['dead', 'acked']",
    ),
    "processing without an owner": (
        lambda crash, ids: crash.redis.hdel(crash.keys.state, f"{ids['processing']}:w"),
        "PROCESSING without owner or token",
    ),
    "owned outside PROCESSING": (
        lambda crash, ids: crash.redis.hset(crash.keys.state, f"{ids['ready']}:w", "w"),
        "in ready but still owned by 'w'",
    ),
    "payload missing": (
        lambda crash, ids: crash.redis.hdel(crash.keys.payloads, ids["scheduled"]),
        "in scheduled without a payload",
    ),
    "acked with leftovers": (
        lambda crash, ids: crash.redis.hset(crash.keys.payloads, ids["acked"], "{}"),
        "acked but its payload or state is left over",
    ),
    "a stranger in the queue": (
        lambda crash, ids: crash.redis.zadd(crash.keys.processing, {"stranger": 1}),
        "ids nobody sent: ['stranger']",
    ),
    "a key outside the hash tag": (
        lambda crash, ids: crash.redis.set(f"{crash.prefix}:stray", 1),
        "key outside the queue's hash tag: ",
    ),
    "a result that never expires": (
        lambda crash, ids: crash.redis.persist(result_key(crash.prefix, ids["acked"])),
        "result key that never expires: ",
    ),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_each_broken_invariant_is_named(crash, sound, breakage):
    # Given a sound queue, when one invariant is broken behind taskq's back
    breaks, expected = BREAKAGES[breakage]
    breaks(crash, sound)

    # Then the checker fails, naming it
    with pytest.raises(AssertionError, match="invariants broken") as failure:
        crash.check_invariants()
    assert expected in str(failure.value)


def test_an_ack_sent_by_a_worker_killed_before_recording_it_counts_as_acked(crash):
    # Given a message acked in Redis whose worker only got to record that it sent the ack
    message_id = crash.send("crash.work")
    (delivery,) = crash.broker.reserve([crash.queue], worker_id="w", lease=600)
    record = {"id": message_id, "token": delivery.token, "worker": "w"}
    crash.redis.sadd(f"{crash.test_base}:acking", json.dumps(record, sort_keys=True))
    assert crash.broker.ack(delivery)

    # Then it counts as acked, not lost
    assert crash.check_invariants() == {message_id: "acked"}
    assert message_id in crash.acked([message_id])

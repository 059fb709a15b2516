"""The invariant checker of the crash tests: the queue's state machine, read from Redis.

research/redis-design.md §4: after every chaos step, every known id is in exactly one state or
acked, has its payload while it is in the broker, and every PROCESSING member has an owner and
a token. The key layout read here is the one documented in ``taskq_redis/lua/lib.lua`` (names
from ``taskq_redis.keys``).
"""

from __future__ import annotations

import collections
import json
from dataclasses import dataclass

import redis

from taskq_redis.keys import QueueKeys, queues_key, result_key, worker_queues_key
from taskq_redis.results import state_key


@dataclass(frozen=True)
class Snapshot:
    """One atomic read of a queue's keys and of the workers' ack records."""

    places: dict[str, list[str]]  # id -> every structure it is found in, once per occurrence
    payloads: frozenset[str]
    state: dict[str, str]
    acked: collections.Counter[str]  # id -> successful acks recorded
    acking: frozenset[str]  # ids some worker sent an ack for (recorded before sending it)
    prefix: str
    keys_outside_tag: dict[str, int]  # key -> its PTTL (-1: no expiry)


def take_snapshot(client: redis.Redis, keys: QueueKeys, prefix: str, records: str) -> Snapshot:
    """Read READY, SCHEDULED, PROCESSING, DEAD, payloads, state and ack records in MULTI.

    ``records`` is the prefix of the workers' record sets (``<prefix>:test``).

    ``client`` must decode responses. The key scan for the hash-tag check is not part of the
    transaction (SCAN cannot be), which does not matter: keys are created, not moved.
    """
    pipe = client.pipeline(transaction=True)
    for key in keys.ready:
        pipe.lrange(key, 0, -1)
    pipe.zrange(keys.scheduled, 0, -1)
    pipe.zrange(keys.processing, 0, -1)
    pipe.zrange(keys.dead, 0, -1)
    pipe.hkeys(keys.payloads)
    pipe.hgetall(keys.state)
    pipe.smembers(f"{records}:acked")
    pipe.smembers(f"{records}:acking")
    *ready_lists, scheduled, processing, dead, payloads, state, acked, acking = pipe.execute()

    places: collections.defaultdict[str, list[str]] = collections.defaultdict(list)
    for items in ready_lists:
        for item in items:
            places[item].append("ready")
    for place, items in (("scheduled", scheduled), ("processing", processing), ("dead", dead)):
        for item in items:
            places[item].append(place)
    allowed = (f"{keys.base}:", f"{records}:")
    global_keys = {queues_key(prefix), worker_queues_key(prefix)}
    outside = [
        key
        for key in client.scan_iter(match=f"{prefix}:*", count=1000)
        if not key.startswith(allowed) and key not in global_keys
    ]
    expiries = [client.pttl(key) for key in outside]
    return Snapshot(
        places=dict(places),
        payloads=frozenset(payloads),
        state=state,
        acked=collections.Counter(json.loads(member)["id"] for member in acked),
        acking=frozenset(json.loads(member)["id"] for member in acking),
        prefix=prefix,
        keys_outside_tag=dict(zip(outside, expiries, strict=True)),
    )


def violations(
    snapshot: Snapshot, ids: list[str], sent: list[str]
) -> tuple[list[str], dict[str, str]]:
    """Check the invariants for ``ids`` (some of ``sent``); returns the problems and places.

    * every id is in exactly one of READY (any priority, once), SCHEDULED, PROCESSING, DEAD, or
      acked (recorded exactly once): never two places, never none. An id gone from the broker
      (no place, no payload, no state) that a worker sent an ack for but never recorded as
      acked counts as acked: its worker was killed between the ack and the record;
    * every PROCESSING member has an owner (``<id>:w``) and a token (``<id>:d`` >= 1), and only
      PROCESSING members have an owner;
    * an id still in the broker has its payload; an acked id has no payload and no state left;
    * the structures hold no id outside ``sent``;
    * every key under the prefix is in the queue's hash tag, apart from the two documented
      global sets (``queues``, ``worker_queues``), the test's own records, and the results of
      ``sent`` messages (each in its own tag), which must expire.
    """
    state = snapshot.state
    state_ids = {field.rpartition(":")[0] for field in state if not field.startswith("#")}
    problems: list[str] = []
    where: dict[str, str] = {}
    for message_id in ids:
        places = snapshot.places.get(message_id, []) + ["acked"] * snapshot.acked[message_id]
        gone = message_id not in snapshot.payloads and message_id not in state_ids
        if not places and gone and message_id in snapshot.acking:
            places = ["acked"]
        if len(places) != 1:
            problems.append(f"{message_id}: in {places or 'no state at all (lost)'}")
            continue
        place = where[message_id] = places[0]
        owner, token = state.get(f"{message_id}:w"), state.get(f"{message_id}:d")
        if place == "processing":
            if not owner or not token or int(token) < 1:
                problems.append(f"{message_id}: PROCESSING without owner or token")
        elif owner is not None:
            problems.append(f"{message_id}: in {place} but still owned by {owner!r}")
        if place == "acked":
            if message_id in snapshot.payloads or message_id in state_ids:
                problems.append(f"{message_id}: acked but its payload or state is left over")
        elif message_id not in snapshot.payloads:
            problems.append(f"{message_id}: in {place} without a payload")
    strangers = sorted(set(snapshot.places) - set(sent))
    if strangers:
        problems.append(f"ids nobody sent: {strangers}")
    results = {result_key(snapshot.prefix, message_id) for message_id in sent}
    # A task's STARTED/RETRY report lives next to its result, with a TTL too.
    results |= {state_key(snapshot.prefix, message_id) for message_id in sent}
    for key, pttl in snapshot.keys_outside_tag.items():
        if key not in results:
            problems.append(f"key outside the queue's hash tag: {key}")
        elif pttl < 0:
            problems.append(f"result key that never expires: {key}")
    return problems, where

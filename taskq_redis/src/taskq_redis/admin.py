"""Monitoring and operator actions: queue list, counts, DEAD browsing, requeue and purge.

Counts are a pipeline of O(1) commands (LLEN, ZCARD), cheap enough for a dashboard. Purges
and requeues of everything loop over bounded script calls, so a million messages never block
Redis in one script.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taskq_core.schemas import QueueCounts
from taskq_redis.codec import DEAD_LETTER_FIELDS, dead_letter, text
from taskq_redis.failures import reports_lost_connection
from taskq_redis.keys import queues_key
from taskq_redis.store import BATCH

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from taskq_core.schemas import DeadLetter
    from taskq_redis.keys import QueueKeys
    from taskq_redis.runner import Command
    from taskq_redis.store import Store


def queues(store: Store) -> list[str]:
    """Every queue that ever received a message, sorted."""
    members: Iterable[bytes | str] = store.redis.run(("SMEMBERS", queues_key(store.prefix)))
    return sorted(text(name) for name in members)


#: Replies :func:`read_counts` adds to a pipeline.
COUNT_REPLIES = 14


def counts(store: Store, queue: str) -> QueueCounts:
    """One pipeline: LLENs and ZCARDs of the states, and the expired and revoked totals."""
    keys = store.keys(queue)
    return counts_from(queue, store.redis.batch(read_counts(keys)))


def read_counts(keys: QueueKeys) -> list[Command]:
    """The reads of a queue's counts (:data:`COUNT_REPLIES` replies).

    LLEN of the ten READY lists, ZCARD of SCHEDULED, PROCESSING and DEAD, and the expired and
    revoked totals of the history hash.
    """
    return [
        *(("LLEN", ready) for ready in keys.ready),
        ("ZCARD", keys.scheduled),
        ("ZCARD", keys.processing),
        ("ZCARD", keys.dead),
        ("HMGET", keys.history, "#expired", "#revoked"),
    ]


def counts_from(queue: str, replies: Sequence[Any]) -> QueueCounts:
    """The counts from the first :data:`COUNT_REPLIES` replies of :func:`read_counts`."""
    *ready, scheduled, processing, dead, (expired, revoked) = replies[:COUNT_REPLIES]
    return QueueCounts(
        queue=queue,
        ready=sum(ready),
        scheduled=scheduled,
        processing=processing,
        dead=dead,
        expired=int(text(expired) or 0),
        revoked=int(text(revoked) or 0),
    )


def next_eta(store: Store, queue: str) -> float | None:
    """The lowest score of the queue's SCHEDULED sorted set: its earliest ETA."""
    first: list[Any] = store.redis.run(("ZRANGE", store.keys(queue).scheduled, 0, 0, "WITHSCORES"))
    return float(first[0][1]) if first else None


def list_dead(store: Store, queue: str, *, offset: int, limit: int) -> list[DeadLetter]:
    """DEAD messages, most recent first: ZREVRANGE, then their payloads and fields."""
    if limit <= 0 or offset < 0:
        return []
    keys = store.keys(queue)
    found: Iterable[Any] = store.redis.run(("ZREVRANGE", keys.dead, offset, offset + limit - 1))
    ids = [text(item) for item in found]
    if not ids:
        return []

    reads: list[Command] = [("HMGET", keys.payloads, *ids)]
    for message_id in ids:
        reads.append(("HMGET", keys.state, *(f"{message_id}:{c}" for c in DEAD_LETTER_FIELDS)))
    payloads, *fields = store.redis.batch(reads)
    return [
        dead_letter(keys, message_id, payload, state)
        for message_id, payload, state in zip(ids, payloads, fields, strict=True)
        if payload is not None  # requeued or purged between the two round trips
    ]


def requeue_dead(store: Store, queue: str, ids: Sequence[str] | None) -> int:
    """requeue_dead.lua over all of DEAD (oldest first) or over ``ids``, 1000 per call."""
    keys = store.keys(queue)
    script_keys = [keys.dead, keys.payloads, keys.state, keys.marker, *keys.ready]
    moved = 0
    if ids is None:
        while True:
            back, taken = store.redis.call("requeue_dead", script_keys, [BATCH])
            moved += int(back)
            if int(taken) == 0:
                return moved
    for start in range(0, len(ids), BATCH):
        back, _ = store.redis.call(
            "requeue_dead", script_keys, [BATCH, *ids[start : start + BATCH]]
        )
        moved += int(back)
    return moved


def purge(store: Store, queue: str) -> int:
    """purge.lua until it deletes nothing: READY and SCHEDULED, never PROCESSING."""
    keys = store.keys(queue)
    script_keys = [keys.scheduled, keys.payloads, keys.state, keys.marker, *keys.ready]
    return _drain(store, "purge", script_keys)


def purge_dead(store: Store, queue: str) -> int:
    """purge_dead.lua until it deletes nothing."""
    keys = store.keys(queue)
    return _drain(store, "purge_dead", [keys.dead, keys.payloads, keys.state])


def _drain(store: Store, script: str, keys: list[str]) -> int:
    total = 0
    while True:
        deleted = int(store.redis.call(script, keys, [BATCH]))
        total += deleted
        if deleted == 0:
            return total


class AdminOperations:
    """Operator actions of :class:`~taskq_redis.broker.RedisBroker` (this module's functions).

    A part of the broker: it runs on the broker's store (``_store``).
    """

    _store: Store

    @reports_lost_connection
    def next_eta(self, queue: str) -> float | None:
        """The earliest ETA among ``queue``'s SCHEDULED messages (the lowest score)."""
        return next_eta(self._store, queue)

    @reports_lost_connection
    def queues(self) -> list[str]:
        """Every queue that ever received a message, sorted."""
        return queues(self._store)

    @reports_lost_connection
    def list_dead(self, queue: str, *, offset: int = 0, limit: int = 100) -> list[DeadLetter]:
        """DEAD messages, most recent first, with their reasons."""
        return list_dead(self._store, queue, offset=offset, limit=limit)

    @reports_lost_connection
    def requeue_dead(self, queue: str, ids: Sequence[str] | None = None) -> int:
        """Move DEAD messages (all, or ``ids``) back to READY with fresh counters."""
        return requeue_dead(self._store, queue, ids)

    @reports_lost_connection
    def purge(self, queue: str) -> int:
        """Delete READY and SCHEDULED messages in bounded script calls; returns how many."""
        return purge(self._store, queue)

    @reports_lost_connection
    def purge_dead(self, queue: str) -> int:
        """Delete DEAD messages in bounded script calls; returns how many."""
        return purge_dead(self._store, queue)

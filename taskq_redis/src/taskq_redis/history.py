"""Reading the per-minute history and single messages: the dashboard's reads on Redis.

``queue_stats`` is one pipeline of O(1) reads plus an HGETALL of the bounded history hash (at
most ``HISTORY_MINUTES * 3 + 1`` fields; see ``count_outcome`` in ``lua/lib.lua``), so a
dashboard refresh costs one round trip per queue whatever the queue holds. ``message_info`` is
one MULTI of reads on the queue's hash tag, so the state it reports is a consistent snapshot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taskq_core.errors import MessageDecodeError
from taskq_core.schemas import (
    MessageInfo,
    MessageState,
    MinuteCounts,
    QueueCounts,
    QueueStats,
    minutes_window,
)
from taskq_redis.admin import COUNT_REPLIES, counts, counts_from, read_counts
from taskq_redis.codec import decode_message, full_payload, optional_float, text
from taskq_redis.failures import reports_lost_connection
from taskq_redis.limits import PAUSED_FIELD

if TYPE_CHECKING:
    from collections.abc import Mapping

    from taskq_core.schemas import Message
    from taskq_redis.store import Store

#: History hash field suffixes and the MinuteCounts fields they fill.
_KINDS = {
    "ok": "succeeded",
    "fail": "failed",
    "retry": "retried",
    "expired": "expired",
    "revoked": "revoked",
}
#: State fields (lua/lib.lua) message_info reads: deliveries, retries, lost leases, owner,
#: last error, dead reason, died at.
_INFO_FIELDS = "drlwext"


def queue_stats(store: Store, queue: str, minutes: int) -> QueueStats:
    """Counts, history and pause flag of ``queue`` in one round trip (a pipeline, not MULTI)."""
    minutes_window(0.0, minutes)  # check the argument before any I/O
    keys = store.keys(queue)

    reads = [*read_counts(keys), ("HGETALL", keys.history), ("HEXISTS", keys.meta, PAUSED_FIELD)]
    if store.clock is None:
        reads.append(("TIME",))
    replies = store.redis.batch(reads)
    fields, paused = replies[COUNT_REPLIES], replies[COUNT_REPLIES + 1]
    now = store.clock.now() if store.clock is not None else _seconds(replies[COUNT_REPLIES + 2])
    counts = counts_from(queue, replies)
    history = tuple(window(fields, now, minutes))
    return QueueStats(counts=counts, history=history, paused=bool(paused))


def history(store: Store, queue: str, minutes: int) -> list[MinuteCounts]:
    """The last ``minutes`` minutes of ``queue``'s history, oldest first."""
    return list(queue_stats(store, queue, minutes).history)


def window(fields: Mapping[Any, Any], now: float, minutes: int) -> list[MinuteCounts]:
    """MinuteCounts for each minute of the window from the history hash's fields."""
    by_minute: dict[int, dict[str, int]] = {}
    for raw_field, raw_value in fields.items():
        minute, _, kind = text(raw_field).partition(":")
        if kind in _KINDS and minute.lstrip("-").isdigit():
            by_minute.setdefault(int(minute), {})[_KINDS[kind]] = int(text(raw_value))
    return [
        MinuteCounts(minute=start, **by_minute.get(int(start // 60), {}))
        for start in minutes_window(now, minutes)
    ]


def message_info(store: Store, queue: str, message_id: str) -> MessageInfo | None:
    """One MULTI of reads: the payload, the state fields and the three sorted-set scores."""
    keys = store.keys(queue)
    payload, fields, eta, deadline, dead_seq = store.redis.transaction(
        [
            ("HGET", keys.payloads, message_id),
            ("HMGET", keys.state, *(f"{message_id}:{c}" for c in _INFO_FIELDS)),
            ("ZSCORE", keys.scheduled, message_id),
            ("ZSCORE", keys.processing, message_id),
            ("ZSCORE", keys.dead, message_id),
        ]
    )
    if payload is None:
        return None
    payload = full_payload(queue, message_id, payload)
    deliveries, retries, lost, owner, last_error, reason, died_at = (text(f) for f in fields)
    state: MessageState = "ready"
    if deadline is not None:
        state = "processing"
    elif eta is not None:
        state = "scheduled"
    elif dead_seq is not None:
        state = "dead"
    message: Message | None
    try:
        message = decode_message(keys, message_id, payload)
    except MessageDecodeError:
        message = None
    return MessageInfo(
        id=message_id,
        queue=queue,
        state=state,
        payload=text(payload),
        message=message,
        deliveries=int(deliveries or 0),
        retries=int(retries or 0),
        lost_leases=int(lost or 0),
        last_error=last_error or None,
        eta=None if eta is None else float(eta),
        worker_id=(owner or None) if state == "processing" else None,
        lease_deadline=None if deadline is None else float(deadline),
        reason=(reason or None) if state == "dead" else None,
        died_at=optional_float(died_at) if state == "dead" else None,
    )


def _seconds(reply: Any) -> float:
    seconds, microseconds = reply
    return int(seconds) + int(microseconds) / 1_000_000


class MonitoringOperations:
    """Monitoring reads of :class:`~taskq_redis.broker.RedisBroker` (this module's functions).

    A part of the broker: it runs on the broker's store (``_store``).
    """

    _store: Store

    @reports_lost_connection
    def counts(self, queue: str) -> QueueCounts:
        """Messages per state, from one pipeline of LLEN/ZCARD."""
        return counts(self._store, queue)

    @reports_lost_connection
    def history(self, queue: str, *, minutes: int = 60) -> list[MinuteCounts]:
        """Outcomes per minute from the queue's bounded history hash; one round trip."""
        return history(self._store, queue, minutes)

    @reports_lost_connection
    def queue_stats(self, queue: str, *, minutes: int = 60) -> QueueStats:
        """Counts, history and the pause flag in one pipelined round trip."""
        return queue_stats(self._store, queue, minutes)

    @reports_lost_connection
    def message_info(self, queue: str, message_id: str) -> MessageInfo | None:
        """What ``queue`` holds about ``message_id``: one MULTI of reads on its hash tag."""
        return message_info(self._store, queue, message_id)

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
    QueueStats,
    minutes_window,
)
from taskq_redis.admin import COUNT_REPLIES, counts_from, read_counts
from taskq_redis.codec import decode_message, full_payload, optional_float, text
from taskq_redis.limits import PAUSED_FIELD

if TYPE_CHECKING:
    from collections.abc import Mapping

    from redis.client import Pipeline

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

    def fill(pipe: Pipeline) -> None:
        read_counts(pipe, keys)
        pipe.hgetall(keys.history)
        pipe.hexists(keys.meta, PAUSED_FIELD)
        if store.clock is None:
            pipe.time()

    replies = store.pipelined(fill)
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
    pipe = store.client.pipeline(transaction=True)
    pipe.hget(keys.payloads, message_id)
    pipe.hmget(keys.state, [f"{message_id}:{c}" for c in _INFO_FIELDS])
    pipe.zscore(keys.scheduled, message_id)
    pipe.zscore(keys.processing, message_id)
    pipe.zscore(keys.dead, message_id)
    payload, fields, eta, deadline, dead_seq = pipe.execute()
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

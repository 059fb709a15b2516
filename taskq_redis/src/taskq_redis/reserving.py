"""Reserving: one reserve.lua call per queue, replies decoded, undecodable payloads buried.

The blocking part (waiting on markers between passes) is in ``waiting.py``; this module is the
non-blocking pass both ``reserve`` and ``ack_and_reserve`` use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taskq_core.broker import DEFAULT_RESULT_TTL
from taskq_core.errors import MessageDecodeError
from taskq_redis import results
from taskq_redis.codec import decode_message, delivery, optional_float, reserved_items, text
from taskq_redis.settling import ack_call, bury
from taskq_redis.store import BATCH

if TYPE_CHECKING:
    from collections.abc import Sequence

    from redis.client import Pipeline

    from taskq_core.schemas import Delivery
    from taskq_redis.keys import QueueKeys
    from taskq_redis.settling import Outcome
    from taskq_redis.store import Call, Store

#: Due SCHEDULED messages each reserve promotes before taking work.
PROMOTE_PER_RESERVE = 1000


def reserve_call(
    store: Store,
    keys: QueueKeys,
    worker_id: str,
    lease: float,
    limit: int,
    now: str,
    *,
    client: Pipeline | None = None,
) -> Any:
    """reserve.lua on one queue (queued on ``client`` when it is a pipeline)."""
    return store.scripts(*reserve_args(store, keys, worker_id, lease, limit, now), client=client)


def reserve_args(
    store: Store, keys: QueueKeys, worker_id: str, lease: float, limit: int, now: str | None = None
) -> Call:
    """The reserve.lua call on one queue (``now``: the store's ``now`` argument)."""
    return (
        "reserve",
        [
            keys.scheduled,
            keys.processing,
            keys.payloads,
            keys.state,
            keys.marker,
            keys.meta,
            *keys.ready,
        ],
        [
            store.now_arg() if now is None else now,
            worker_id,
            repr(float(lease)),
            limit,
            PROMOTE_PER_RESERVE,
        ],
    )


def eta_hint(reply: Sequence[Any]) -> float:
    """Seconds until the next ETA a reserve.lua reply names (``inf`` when none)."""
    next_eta = optional_float(reply[1])
    if next_eta is None:
        return float("inf")
    return max(0.0, next_eta - float(text(reply[0])))


def reserve_now(
    store: Store, queues: Sequence[QueueKeys], worker_id: str, lease: float, limit: int
) -> tuple[list[Delivery], float]:
    """One non-blocking pass over ``queues`` in order.

    Returns:
        What the first queue with work gave, and how long to block at most before the
        earliest scheduled message of these queues is due (``inf`` when none is).
    """
    wait_hint = float("inf")
    for keys in queues:
        found: list[Delivery] = []
        while len(found) < limit:
            step = min(BATCH, limit - len(found))
            reply = reserve_call(store, keys, worker_id, lease, step, store.now_arg())
            found += deliveries_of(store, keys, worker_id, reply)
            wait_hint = min(wait_hint, eta_hint(reply))
            if len(reserved_items(reply)) < step:
                break
        if found:
            return found, wait_hint
    return [], wait_hint


def ack_and_reserve(
    store: Store,
    finished: Delivery,
    queues: Sequence[QueueKeys],
    lease: float,
    limit: int,
    outcome: Outcome | None,
) -> tuple[bool, list[Delivery]]:
    """store_result (with an ``outcome``), ack and the first queue's reserve: one round trip.

    Each script is atomic on its own, and nothing needs them atomic together. When the first
    queue had nothing, a non-blocking pass over the other queues follows (none for a worker of
    one queue); when all it gave was buried (undecodable), the pass covers it again.
    """
    worker_id = finished.worker_id
    now = store.now_arg()

    def fill(pipe: Pipeline) -> None:
        if outcome is not None:
            results.store_call(store, *outcome, client=pipe)
        ack_call(store, finished, client=pipe)
        reserve_call(store, queues[0], worker_id, lease, min(limit, BATCH), now, client=pipe)

    *_, acked, reply = store.pipelined(fill)
    found = deliveries_of(store, queues[0], worker_id, reply)
    if not found:
        rest = queues if reserved_items(reply) else queues[1:]
        found, _ = reserve_now(store, rest, worker_id, lease, limit)
    return bool(acked), found


def deliveries_of(
    store: Store, keys: QueueKeys, worker_id: str, reply: Sequence[Any]
) -> list[Delivery]:
    """Decode a reserve.lua reply; bury each undecodable payload with the decode error.

    A buried payload also gets a FAILURE result (``MessageDecodeError``), stored in the same
    round trip as its burial, so whoever waits for that id learns it will never run.
    """
    now, deadline = float(text(reply[0])), float(text(reply[2]))
    found = []
    for reserved in reserved_items(reply):
        try:
            message = decode_message(keys, reserved.id, reserved.payload)
        except MessageDecodeError as exc:
            failure = results.undecodable(reserved.id, exc, now)
            triple: list[str | int] = [reserved.id, reserved.token, worker_id]
            bury(store, keys, triple, str(exc), (failure, DEFAULT_RESULT_TTL))
            continue
        found.append(delivery(message, reserved, worker_id, deadline))
    return found

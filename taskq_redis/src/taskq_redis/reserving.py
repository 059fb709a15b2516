"""Reserving: one reserve.lua call per queue, replies decoded, undecodable payloads buried.

The blocking part (waiting on markers between passes) is in ``waiting.py``; this module is the
non-blocking pass both ``reserve`` and ``ack_and_reserve`` use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taskq_core.errors import MessageDecodeError
from taskq_redis.codec import decode_message, delivery, optional_float, reserved_items, text
from taskq_redis.store import BATCH

if TYPE_CHECKING:
    from collections.abc import Sequence

    from redis.client import Pipeline

    from taskq_core.schemas import Delivery
    from taskq_redis.keys import QueueKeys
    from taskq_redis.store import Store

#: Due SCHEDULED messages each reserve promotes before taking work.
PROMOTE_PER_RESERVE = 1000


def fence(held: Delivery) -> list[str | int]:
    """The id/token/worker triple every fenced script checks."""
    return [held.id, held.token, held.worker_id]


def bury(
    store: Store, keys: QueueKeys, message_id: str, token: int, worker: str, reason: str
) -> bool:
    """dead.lua for one delivery, fenced by its token and worker."""
    return bool(
        store.run(
            "dead",
            [keys.processing, keys.state, keys.dead],
            [store.now_arg(), message_id, token, worker, reason],
        )
    )


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
    return store.scripts(
        "reserve",
        [keys.scheduled, keys.processing, keys.payloads, keys.state, keys.marker, *keys.ready],
        [now, worker_id, repr(float(lease)), limit, PROMOTE_PER_RESERVE],
        client=client,
    )


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
            next_eta = optional_float(reply[1])
            if next_eta is not None:
                wait_hint = min(wait_hint, max(0.0, next_eta - float(text(reply[0]))))
            if len(reserved_items(reply)) < step:
                break
        if found:
            return found, wait_hint
    return [], wait_hint


def deliveries_of(
    store: Store, keys: QueueKeys, worker_id: str, reply: Sequence[Any]
) -> list[Delivery]:
    """Decode a reserve.lua reply; bury each undecodable payload with the decode error."""
    deadline = float(text(reply[2]))
    found = []
    for message_id, token, retries, payload in reserved_items(reply):
        try:
            message = decode_message(keys, message_id, payload)
        except MessageDecodeError as exc:
            bury(store, keys, message_id, token, worker_id, str(exc))
            continue
        found.append(delivery(message, token, retries, worker_id, deadline))
    return found

"""Reserving: one reserve.lua call per queue, replies decoded, undecodable payloads buried.

The wait on markers between passes is in ``waiting.py``; this module has the non-blocking pass
a blocking and a non-blocking ``reserve`` share, and the loop of a blocking ``reserve``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from taskq_core.broker import DEFAULT_RESULT_TTL
from taskq_core.errors import MessageDecodeError
from taskq_redis import results
from taskq_redis.codec import (
    decode_message,
    delivery,
    optional_float,
    reserved_count,
    reserved_items,
    text,
    unrunnable_items,
)
from taskq_redis.control import end_flagged
from taskq_redis.settling import bury
from taskq_redis.store import BATCH
from taskq_redis.waiting import MarkerWaiter, Wake

if TYPE_CHECKING:
    from collections.abc import Sequence

    from taskq_core.schemas import Delivery
    from taskq_redis.keys import QueueKeys
    from taskq_redis.store import Call, Store

#: Due SCHEDULED messages each reserve promotes before taking work.
PROMOTE_PER_RESERVE = 1000
#: Seconds after an empty blocking reserve within which the same worker's next blocking reserve
#: skips its first pass (see ``reserve_blocking``).
IDLE_FRESH = 1.0

#: Worker id -> (monotonic time, queue names, monotonic ETA bound) of its last blocking reserve
#: that ended with an empty pass riding behind its wait.
IdleReserves = dict[str, tuple[float, tuple[str, ...], float]]


def reserve_blocking(
    store: Store,
    waiter: MarkerWaiter,
    idle: IdleReserves,
    keys: Sequence[QueueKeys],
    worker_id: str,
    lease: float,
    limit: int,
    timeout: float,
) -> list[Delivery]:
    """``RedisBroker.reserve``: passes over ``keys`` and waits on their markers.

    Each wait has the first queue's reserve riding behind it; returns what the first pass with
    work found, or ``[]`` once ``timeout`` is spent or the wait was interrupted.
    """
    names = tuple(k.queue for k in keys)
    generation = waiter.generation()
    start = time.monotonic()
    give_up = start + max(0.0, timeout)
    # A worker's blocking reserves follow each other: when the last one ended with an empty
    # pass moments ago, this one goes straight to the wait (whose BZPOPMIN returns at once if
    # work arrived since), keeping an idle chunk at 2 commands.
    last = idle.pop(worker_id, None)
    passed = timeout > 0 and last is not None and last[1] == names and start - last[0] < IDLE_FRESH
    wait_hint = max(0.0, last[2] - start) if passed and last is not None else float("inf")
    while True:
        found: list[Delivery] = []
        if not passed:
            found, wait_hint = reserve_now(store, keys, worker_id, lease, limit)
        remaining = give_up - time.monotonic()
        if found or remaining <= 0:
            if passed:
                _went_idle(idle, worker_id, names, wait_hint)
            return found
        # The first queue's reserve rides behind the BZPOPMIN (a full pass for one queue).
        then = reserve_args(store, keys[0], worker_id, lease, min(limit, BATCH))
        woke, reply = waiter.wait_then(keys, min(remaining, wait_hint), generation, then)
        passed = False
        if reply is not None:
            found = deliveries_of(store, keys[0], worker_id, reply)
            if found:
                return found  # even when interrupted: the worker releases what it holds
            wait_hint = eta_hint(reply)
            # (with a test clock, time may jump while blocked: always pass again)
            passed = len(keys) == 1 and not reserved_count(reply) and store.clock is None
        if woke is Wake.INTERRUPTED:
            return []
        if woke is Wake.TIMEOUT and remaining <= min(wait_hint, waiter.max_block):
            # The whole timeout went by without a wake-up or a due ETA: no last pass, the
            # caller's next reserve makes it (2 commands per idle chunk, not 3).
            if passed:
                _went_idle(idle, worker_id, names, wait_hint)
            return []


def _went_idle(idle: IdleReserves, worker_id: str, names: tuple[str, ...], hint: float) -> None:
    """Remember that ``worker_id``'s blocking reserve just ended with an empty full pass."""
    now = time.monotonic()
    idle[worker_id] = (now, names, now + hint)


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
            reply = store.redis.call(*reserve_args(store, keys, worker_id, lease, step))
            found += deliveries_of(store, keys, worker_id, reply)
            wait_hint = min(wait_hint, eta_hint(reply))
            if reserved_count(reply) < step:
                break
        if found:
            return found, wait_hint
    return [], wait_hint


def deliveries_of(
    store: Store, keys: QueueKeys, worker_id: str, reply: Sequence[Any]
) -> list[Delivery]:
    """Decode a reserve.lua reply; bury each undecodable payload with the decode error.

    A buried payload also gets a FAILURE result (``MessageDecodeError``), stored in the same
    round trip as its burial, so whoever waits for that id learns it will never run. Messages
    reserve.lua flagged as revoked or expired are ended with their result (``control.py``).
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
    if reply[3]:
        end_flagged(store, keys, worker_id, unrunnable_items(reply), DEFAULT_RESULT_TTL)
    return found

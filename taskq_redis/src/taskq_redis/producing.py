"""Producing: send.lua for one message, send_many.lua per queue for a batch; promote.lua.

Every queue that receives a message is added to the global ``<prefix>:queues`` set by a plain
SADD (that set is outside every queue's hash tag, so no script may touch it). One SADD per queue
per broker instance is enough while the set lives, so it is sent with the first message of a
queue and then again only every ``ANNOUNCE_INTERVAL`` seconds (a Redis that lost its data gets
the name back within that time): a steady ``send`` is one bare EVALSHA.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from taskq_redis.keys import queues_key
from taskq_redis.store import BATCH

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from taskq_core.schemas import Message
    from taskq_redis.store import Call, Store

#: Seconds between two SADDs of the same queue name from one broker instance.
ANNOUNCE_INTERVAL = 60.0


def write(store: Store, batch: Sequence[tuple[Message, float | None]]) -> list[bool]:
    """Write each ``(message, eta)`` (``eta=None``: now) in one round trip.

    One message is one send.lua call; more are one send_many.lua call per queue and per
    BATCH messages, each sent as soon as it is encoded. The SADD of queue names not announced
    lately goes in the same round trip.

    Returns:
        For each message, whether it was written (``False``: the id was already known).
    """
    if not batch:
        return []
    now = store.now_arg()
    if len(batch) == 1:
        message, eta = batch[0]
        moment = time.monotonic()
        if moment - store.announced.get(message.queue, -ANNOUNCE_INTERVAL) < ANNOUNCE_INTERVAL:
            # The steady state of one send: one bare EVALSHA.
            return [bool(store.run(*_send_one(store, now, message, eta)))]
    groups: dict[str, list[int]] = defaultdict(list)
    for index, (message, _) in enumerate(batch):
        groups[message.queue].append(index)
    slices: list[list[int]] = []
    if len(batch) == 1:
        slices.append([0])
    else:
        for indexes in groups.values():
            slices += [indexes[start : start + BATCH] for start in range(0, len(indexes), BATCH)]

    def calls() -> Iterator[Call]:
        """The script calls, built one at a time (a payload is encoded as its call is made)."""
        if len(batch) == 1:
            yield _send_one(store, now, *batch[0])
            return
        for chunk in slices:
            queue = batch[chunk[0]][0].queue
            yield _send_many(store, now, queue, [batch[i] for i in chunk])

    # Each call goes out as soon as it is built: Redis writes the first chunk while the next
    # one is encoded (sends are idempotent by id, so a retried stream is harmless). The SADD of
    # queue names not announced lately leads the same stream.
    stale = _unannounced(store, groups)
    lead = ("SADD", queues_key(store.prefix), *stale) if stale else None
    replies = store.stream(calls(), lead=lead)
    if stale:
        store.announced.update(dict.fromkeys(stale, time.monotonic()))
    written = [False] * len(batch)
    for chunk, reply in zip(slices, replies, strict=True):
        flags = reply if isinstance(reply, list) else [reply]
        for index, flag in zip(chunk, flags, strict=True):
            written[index] = bool(flag)
    return written


def _unannounced(store: Store, queues: Any) -> list[str]:
    """Queue names this broker has not SADDed in the last ``ANNOUNCE_INTERVAL`` seconds."""
    now = time.monotonic()
    return sorted(
        q for q in queues if now - store.announced.get(q, -ANNOUNCE_INTERVAL) >= ANNOUNCE_INTERVAL
    )


def _send_one(store: Store, now: str, message: Message, eta: float | None) -> Call:
    keys = store.keys(message.queue)
    return (
        "send",
        [keys.payloads, keys.state, keys.scheduled, keys.marker, keys.ready_for(message.priority)],
        [
            now,
            message.id,
            message.to_json(),
            message.priority,
            message.max_deliveries,
            "" if eta is None else repr(float(eta)),
        ],
    )


def _send_many(
    store: Store, now: str, queue: str, batch: Sequence[tuple[Message, float | None]]
) -> Call:
    keys = store.keys(queue)
    args: list[Any] = [now]
    extend = args.extend
    for message, eta in batch:
        when = "" if eta is None else repr(float(eta))
        extend((message.id, message.to_json(), message.priority, message.max_deliveries, when))
    return (
        "send_many",
        [keys.payloads, keys.state, keys.scheduled, keys.marker, *keys.ready],
        args,
    )


def promote(store: Store, queue: str, limit: int) -> int:
    """promote.lua until ``limit`` moved or nothing more is due; returns how many moved."""
    keys = store.keys(queue)
    moved = 0
    while moved < limit:
        step = min(BATCH, limit - moved)
        count = int(
            store.run(
                "promote",
                [keys.scheduled, keys.state, keys.marker, *keys.ready],
                [store.now_arg(), step],
            )
        )
        moved += count
        if count < step:
            break
    return moved

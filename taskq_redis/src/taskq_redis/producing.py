"""Producing: send.lua for each message, pipelined; promote.lua for the schedule poller."""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskq_redis.keys import queues_key
from taskq_redis.store import BATCH

if TYPE_CHECKING:
    from collections.abc import Sequence

    from redis.client import Pipeline

    from taskq_core.schemas import Message
    from taskq_redis.store import Store


def write(store: Store, batch: Sequence[tuple[Message, float | None]]) -> list[bool]:
    """send.lua for each ``(message, eta)`` in one pipelined round trip (``eta=None``: now).

    The queues are added to the global ``<prefix>:queues`` set in the same pipeline, by a
    plain SADD: that set is outside every queue's hash tag, so no script may touch it.

    Returns:
        For each message, whether it was written (``False``: the id was already known).
    """
    if not batch:
        return []
    now = store.now_arg()

    def fill(pipe: Pipeline) -> None:
        pipe.sadd(queues_key(store.prefix), *sorted({message.queue for message, _ in batch}))
        for message, eta in batch:
            keys = store.keys(message.queue)
            store.scripts(
                "send",
                [
                    keys.payloads,
                    keys.state,
                    keys.scheduled,
                    keys.marker,
                    keys.ready_for(message.priority),
                ],
                [
                    now,
                    message.id,
                    message.to_json(),
                    message.priority,
                    message.max_deliveries,
                    "" if eta is None else repr(float(eta)),
                ],
                client=pipe,
            )

    replies = store.pipelined(fill)
    return [bool(reply) for reply in replies[1:]]


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

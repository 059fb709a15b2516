"""Periodic ticks: claim_tick.lua claims a tick and sends its message; the claims are read back.

The claims of a queue's schedules are one hash, ``Q:periodic`` (schedule key -> latest claimed
tick), under the queue's hash tag: the claim and the message it sends are one script on one
slot. The queue's name is announced in ``<prefix>:queues`` as a send announces it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from taskq_redis.codec import expires_arg
from taskq_redis.keys import queues_key
from taskq_redis.producing import ANNOUNCE_INTERVAL

if TYPE_CHECKING:
    from taskq_core.schemas import Message
    from taskq_redis.store import Call, Store


def claim_tick(store: Store, message: Message, schedule: str, tick: float) -> bool:
    """Run claim_tick.lua (with the queue's SADD in the same round trip when it is due)."""
    keys = store.keys(message.queue)
    call: Call = (
        "claim_tick",
        [keys.payloads, keys.state, keys.marker, keys.ready_for(message.priority), keys.periodic],
        [
            schedule,
            repr(float(tick)),
            message.id,
            message.to_json(),
            message.priority,
            message.max_deliveries,
            expires_arg(message),
        ],
    )
    moment = time.monotonic()
    if moment - store.announced.get(message.queue, -ANNOUNCE_INTERVAL) < ANNOUNCE_INTERVAL:
        return bool(store.redis.call(*call))
    _, reply = store.redis.batch(
        [("SADD", queues_key(store.prefix), message.queue), store.redis.script(*call)]
    )
    store.announced[message.queue] = moment
    return bool(reply)


def last_tick(store: Store, queue: str, schedule: str) -> float | None:
    """The latest claimed tick of ``schedule`` in ``queue`` (one HGET)."""
    value = store.redis.run(("HGET", store.keys(queue).periodic, schedule))
    return None if value is None else float(value)

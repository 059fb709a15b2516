"""Limits: a queue's in-flight cap and pause flag (in ``Q:meta``), and shared rate limiters.

The cap and the pause flag are enforced inside reserve.lua (one HMGET reads both), so they
cannot race with other reserves and no worker polls for them; resume.lua wakes blocked
reserves through the queue's marker the way a send does. every script
that takes a message out of PROCESSING wakes a blocked reserve of a capped queue when READY
has work the freed room lets in. A rate limiter is its own key (``<prefix>:{rl:<name>}:log``),
so it is shared by tasks of any queue and is one script call per grant.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from taskq_redis.codec import text
from taskq_redis.failures import reports_lost_connection
from taskq_redis.keys import rate_limit_key

if TYPE_CHECKING:
    from taskq_redis.store import Store

#: Field of ``Q:meta`` present while the queue is paused (``PAUSED_FIELD`` in lib.lua).
PAUSED_FIELD = "paused"


def set_queue_limit(store: Store, queue: str, max_in_flight: int | None) -> None:
    """set_queue_limit.lua: store the cap (``None`` removes it) and wake blocked reserves.

    Raises:
        ValueError: ``max_in_flight`` is below 1 or not an integer.
    """
    if max_in_flight is not None and (
        isinstance(max_in_flight, bool) or not isinstance(max_in_flight, int) or max_in_flight < 1
    ):
        raise ValueError(f"max_in_flight must be an integer >= 1 or None, got {max_in_flight!r}")
    keys = store.keys(queue)
    store.redis.call(
        "set_queue_limit",
        [keys.meta, keys.processing, keys.marker, *keys.ready],
        ["" if max_in_flight is None else max_in_flight],
    )


def pause(store: Store, queue: str) -> bool:
    """pause.lua: set the pause flag; ``False`` when it was set already."""
    return bool(store.redis.call("pause", [store.keys(queue).meta], []))


def resume(store: Store, queue: str) -> bool:
    """resume.lua: clear the pause flag and wake blocked reserves; ``False`` if it was clear."""
    keys = store.keys(queue)
    return bool(
        store.redis.call(
            "resume", [keys.meta, keys.processing, keys.scheduled, keys.marker, *keys.ready], []
        )
    )


def paused(store: Store, queue: str) -> bool:
    """Whether the pause flag is set (one HEXISTS)."""
    return bool(store.redis.run(("HEXISTS", store.keys(queue).meta, PAUSED_FIELD)))


def acquire_rate_limit(store: Store, name: str, *, limit: int, period: float) -> float:
    """rate_limit.lua: one grant (``0.0``) or the seconds until one is possible (> 0).

    Raises:
        ValueError: an empty name, ``limit`` below 1 or ``period`` not positive.
    """
    if not name:
        raise ValueError("a rate limiter needs a non-empty name")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be an integer >= 1, got {limit!r}")
    if not period > 0:
        raise ValueError(f"period must be a positive number of seconds, got {period!r}")
    reply = store.redis.call(
        "rate_limit",
        [rate_limit_key(store.prefix, name)],
        [store.now_arg(), limit, repr(float(period)), uuid.uuid4().hex],
    )
    return float(text(reply))


class LimitOperations:
    """Caps, pauses and rate limits of :class:`~taskq_redis.broker.RedisBroker`.

    A part of the broker: it runs on the broker's store (``_store``).
    """

    _store: Store

    @reports_lost_connection
    def set_queue_limit(self, queue: str, *, max_in_flight: int | None) -> None:
        """Cap PROCESSING of ``queue`` across all workers (``None`` removes the cap).

        Kept in the queue's ``meta`` hash and read by every reserve; raising or removing the
        cap wakes reserves blocked on the old one.
        """
        set_queue_limit(self._store, queue, max_in_flight)

    @reports_lost_connection
    def pause(self, queue: str) -> bool:
        """Set the queue's pause flag in ``meta``; reserve.lua hands out nothing while it is set."""
        return pause(self._store, queue)

    @reports_lost_connection
    def resume(self, queue: str) -> bool:
        """Clear the pause flag and wake blocked reserves through the queue's marker."""
        return resume(self._store, queue)

    @reports_lost_connection
    def paused(self, queue: str) -> bool:
        """Whether the queue's pause flag is set (one HEXISTS)."""
        return paused(self._store, queue)

    @reports_lost_connection
    def acquire_rate_limit(self, key: str, *, limit: int, period: float) -> float:
        """One grant of the shared limiter ``key`` (``0.0``), or the seconds until one is possible.

        A sliding-window log in one script on the limiter's own key, timed by the server's
        clock (or the test clock).
        """
        return acquire_rate_limit(self._store, key, limit=limit, period=period)

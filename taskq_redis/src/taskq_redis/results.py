"""Results: stored under the message id by store_result.lua, waited for without polling.

A result lives in ``<prefix>:result:{<id>}``, a LIST holding exactly one element, with a real
PEXPIRE; the element is ``<expires_at> <result>``, the result in the compact form of
``codec.stored_result`` (a ``None`` returned is its finish time alone). Waiting is the rotation
trick: a waiter reads ``LINDEX key 0``, and only when there is nothing yet blocks on ``BLMOVE
key key RIGHT RIGHT``. When the result is stored, Redis serves
every client blocked on the key in turn; each pops the one element and pushes it back onto the
same key, so each receives it, nobody consumes it, the list never empties (Redis deletes an
empty list only after the push), and the key keeps its TTL. A waiter that arrives later finds
the element with LINDEX, so starting before or after the result is stored makes no difference,
and nothing is lost across reconnects (unlike pub/sub). ``tests/redis/test_results.py`` checks
on a real server that several blocked waiters are all served and that the TTL survives.

Costs: one blocking connection per concurrent waiter, and each wake-up is an LMOVE written to
the AOF and the replicas. Long waits are cut into chunks of at most ``max_block`` so a dead
link is noticed, as idle reserves do.

Time: the TTL is the server's real time (PEXPIRE). With a test clock the element also carries
its expiry on that clock, which readers check, so a test can expire a result by moving its
clock; the real PEXPIRE still removes the key in the end.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from taskq_core.broker import DEFAULT_RESULT_TTL
from taskq_core.errors import MessageDecodeError
from taskq_core.progress import TaskState
from taskq_core.schemas import TaskResult
from taskq_redis.codec import result_from_stored, stored_result, text
from taskq_redis.failures import reports_lost_connection
from taskq_redis.keys import result_key
from taskq_redis.waiting import MIN_BLOCK_SECONDS

if TYPE_CHECKING:
    from taskq_redis.store import Call, Store
    from taskq_redis.waiting import MarkerWaiter


def put(store: Store, result: TaskResult, ttl: float) -> None:
    """store_result.lua for ``result``; one round trip."""
    store.redis.call(*store_args(store, result, ttl))


def store_args(store: Store, result: TaskResult, ttl: float) -> Call:
    """The store_result.lua call for ``result``."""
    return (
        "store_result",
        [result_key(store.prefix, result.id)],
        [store.now_arg(), repr(float(ttl)), stored_result(result)],
    )


def get(
    store: Store, message_id: str, *, timeout: float | None, max_block: float
) -> TaskResult | None:
    """The result of ``message_id``, waiting up to ``timeout`` real seconds (``None``: forever).

    One LINDEX when the result is there (or ``timeout`` is 0); otherwise one BLMOVE per
    ``max_block`` chunk until it arrives or the time is up.
    """
    key = result_key(store.prefix, message_id)
    give_up = None if timeout is None else time.monotonic() + max(0.0, timeout)
    found = _current(store, key, store.redis.run(("LINDEX", key, 0)))
    while found is None:
        block = block_for(give_up, time.monotonic(), max_block)
        if block is None:
            return None
        rotated = store.redis.run(("BLMOVE", key, key, "RIGHT", "RIGHT", repr(block)))
        found = _current(store, key, rotated)
    return found


def block_for(give_up: float | None, now: float, max_block: float) -> float | None:
    """Seconds the next BLMOVE of a wait blocks; ``None`` once ``give_up`` has passed.

    ``give_up`` and ``now`` are on one monotonic clock; ``give_up=None`` waits forever.
    """
    remaining = max_block if give_up is None else give_up - now
    if remaining <= 0:
        return None
    return max(MIN_BLOCK_SECONDS, min(remaining, max_block))


def forget(store: Store, message_id: str) -> None:
    """Delete the result of ``message_id``; waiters keep waiting for a new one."""
    store.redis.run(("DEL", result_key(store.prefix, message_id)))


def undecodable(message_id: str, error: MessageDecodeError, now: float) -> TaskResult:
    """The FAILURE result of a message buried because its payload could not be decoded."""
    return TaskResult(
        id=message_id,
        status="FAILURE",
        error_type=type(error).__name__,
        error_message=str(error),
        finished_at=now,
    )


def _current(store: Store, key: str, element: bytes | str | None) -> TaskResult | None:
    """Decode a stored element; ``None`` for no element or one expired on the test clock.

    An element expired on the test clock (its real PEXPIRE may be far off) is removed, by value,
    so a waiter blocks instead of finding it again at once.

    Raises:
        MessageDecodeError: the element was not written by store_result.lua.
    """
    found, expired = decode(store, key, element)
    if expired:
        store.redis.run(("LREM", key, 0, element))
    return found


def decode(store: Store, key: str, element: bytes | str | None) -> tuple[TaskResult | None, bool]:
    """A stored element as ``(result, expired)``; ``expired``: the test clock has passed it.

    The caller removes an expired element (``LREM key 0 element``) on its own client.

    Raises:
        MessageDecodeError: the element was not written by store_result.lua.
    """
    if element is None:
        return None, False
    expires_at, _, payload = text(element).partition(" ")
    if store.clock is not None and float(expires_at) <= store.clock.now():
        return None, True
    # The key is `<prefix>:result:{<id>}` (a prefix has no braces), so the id is its tag.
    message_id = key[key.index("{") + 1 : -1]
    try:
        return result_from_stored(message_id, payload), False
    except MessageDecodeError:
        raise MessageDecodeError(f"undecodable result stored at {key}") from None


def state_key(prefix: str, message_id: str) -> str:
    """The key of a task's running state (``set_task_state``), in the id's own tag."""
    return f"{prefix}:task_state:{{{message_id}}}"


def set_state(store: Store, state: TaskState, ttl: float) -> None:
    """``SET key state PX ttl``: one atomic command on one key; ``ttl <= 0`` keeps nothing."""
    key = state_key(store.prefix, state.id)
    if ttl <= 0:
        store.redis.run(("DEL", key))
        return
    store.redis.run(("SET", key, state.to_json(), "PX", max(1, math.ceil(ttl * 1000))))


def get_state(store: Store, message_id: str) -> TaskState | None:
    """The state of ``message_id``, or ``None`` (never set, or expired)."""
    raw = store.redis.run(("GET", state_key(store.prefix, message_id)))
    return None if raw is None else TaskState.from_json(raw)


class ResultOperations:
    """Results of :class:`~taskq_redis.broker.RedisBroker` (this module's functions).

    A part of the broker: it runs on the broker's store (``_store``) and waiter (``_waiter``).
    """

    _store: Store
    _waiter: MarkerWaiter

    @reports_lost_connection
    def store_result(self, result: TaskResult, *, ttl: float = DEFAULT_RESULT_TTL) -> None:
        """Keep ``result`` for ``ttl`` seconds of the server's real time; wakes every waiter.

        With a test clock the result also expires when that clock passes ``now + ttl``.
        ``ttl <= 0`` stores nothing (and deletes an earlier result).
        """
        put(self._store, result, ttl)

    @reports_lost_connection
    def get_result(self, message_id: str, *, timeout: float | None = 0.0) -> TaskResult | None:
        """The result of ``message_id``, waiting up to ``timeout`` s (``None``: forever).

        LINDEX, then BLMOVE rotations of the result list in chunks of at most ``max_block``:
        any number of waiters, no polling (see ``py``).
        """
        return get(self._store, message_id, timeout=timeout, max_block=self._waiter.max_block)

    @reports_lost_connection
    def forget_result(self, message_id: str) -> None:
        """Delete the result of ``message_id``, if any."""
        forget(self._store, message_id)

    @reports_lost_connection
    def set_task_state(self, state: TaskState, *, ttl: float = DEFAULT_RESULT_TTL) -> None:
        """One ``SET`` with a TTL on ``<prefix>:task_state:{<id>}``; the latest write wins."""
        set_state(self._store, state, ttl)

    @reports_lost_connection
    def get_task_state(self, message_id: str) -> TaskState | None:
        """One ``GET`` of the task's state key."""
        return get_state(self._store, message_id)

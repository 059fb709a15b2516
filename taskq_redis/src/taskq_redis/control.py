"""Revoke and expiry on Redis: revoke.lua, end.lua and the workers' termination lists.

A revoked or expired message is never run. One waiting in READY or SCHEDULED is removed by
``revoke.lua`` at once; one that ``reserve.lua`` finds revoked (state ``k``) or past its expiry
(state ``v``) is leased like any other but flagged, and :func:`end_flagged` ends it through
``end.lua`` with its result stored in the same round trip. A process that dies in between leaves
it leased: the lease runs out, the reaper hands it back, and the next reserve flags it again, so
every such message ends with a stored REVOKED or EXPIRED result and a count in the history.

Terminating a running task: ``revoke.lua`` pushes the id to the owner worker's termination list
(``Q:terminate:<worker>``), on which that worker blocks in ``BLPOP``: it learns at once, without
polling, and a request made while it was between two waits stays in the list.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, cast

from redis.crc import key_slot

from taskq_core.broker import DEFAULT_RESULT_TTL, as_queue_list
from taskq_core.capabilities.control import RevokeOutcome
from taskq_core.schemas import TaskResult
from taskq_redis import results
from taskq_redis.codec import text
from taskq_redis.failures import reports_lost_connection
from taskq_redis.settling import fence

if TYPE_CHECKING:
    from collections.abc import Sequence

    from taskq_core.schemas import Delivery, EndStatus
    from taskq_redis.codec import Unrunnable
    from taskq_redis.keys import QueueKeys
    from taskq_redis.store import Call, Store
    from taskq_redis.waiting import MarkerWaiter

#: How often ``revoke`` reads the owner again when the message moved to another worker
#: between its read and its script (each try needs a hand-over in between to fail).
REVOKE_TRIES = 5

_STATUS: dict[str, EndStatus] = {"revoked": "REVOKED", "expired": "EXPIRED"}


def end_call(store: Store, keys: QueueKeys, triple: Sequence[str | int], kind: str) -> Call:
    """The end.lua call for the id/token/worker ``triple``; ``kind`` is revoked or expired."""
    return (
        "end",
        [
            keys.processing,
            keys.payloads,
            keys.state,
            keys.marker,
            keys.meta,
            *keys.ready,
            keys.history,
        ],
        [*triple, store.now_arg(), kind],
    )


def end(store: Store, delivery: Delivery, status: EndStatus, ttl: float) -> bool:
    """store_result.lua (a ``status`` result) and end.lua for ``delivery``: one round trip."""
    keys = store.keys(delivery.queue)
    result = TaskResult(id=delivery.id, status=status, finished_at=time.time())
    calls = [
        results.store_args(store, result, ttl),
        end_call(store, keys, fence(delivery), status.lower()),
    ]
    return bool(store.redis.calls(calls)[-1])


def end_flagged(
    store: Store, keys: QueueKeys, worker_id: str, flagged: Sequence[Unrunnable], ttl: float
) -> None:
    """End the messages reserve.lua listed apart: each result and end.lua, one round trip."""
    calls: list[Call] = []
    now = time.time()
    for item in flagged:
        result = TaskResult(id=item.id, status=_STATUS[item.why], finished_at=now)
        calls.append(results.store_args(store, result, ttl))
        triple: list[str | int] = [item.id, item.token, worker_id]
        calls.append(end_call(store, keys, triple, item.why))
    store.redis.calls(calls)


def revoke(store: Store, queue: str, message_id: str, terminate: bool, ttl: float) -> RevokeOutcome:
    """revoke.lua, after reading the owner when ``terminate``; stores REVOKED when removed."""
    keys = store.keys(queue)
    for _ in range(REVOKE_TRIES):
        owner = ""
        if terminate:
            owner = text(store.redis.run(("HGET", keys.state, f"{message_id}:w")))
        reply = text(
            store.redis.call(
                "revoke",
                [
                    keys.processing,
                    keys.scheduled,
                    keys.payloads,
                    keys.state,
                    keys.history,
                    *keys.ready,
                    keys.terminate(owner or "-"),
                ],
                [store.now_arg(), message_id, "1" if terminate else "0", owner],
            )
        )
        if reply == "moved":
            continue
        if reply == "revoked":
            result = TaskResult(id=message_id, status="REVOKED", finished_at=time.time())
            results.put(store, result, ttl)
        return cast("RevokeOutcome", reply)
    return "running"


def wait_terminations(
    store: Store, worker_id: str, queues: Sequence[str], timeout: float, max_block: float
) -> list[str]:
    """BLPOP on ``worker_id``'s termination lists, then take what else they hold (LPOP).

    Waits in chunks of at most ``max_block`` so a dead connection is noticed; ``timeout <= 0``
    only takes what is there. On a cluster the BLPOP names the lists of the first queue's slot
    only (one command, one slot); requests in other slots are taken with LPOP when a chunk
    ends, so they wait at most ``max_block``.
    """
    lists = [store.keys(queue).terminate(worker_id) for queue in queues]
    blocking = lists
    if store.redis.cluster:
        slot = key_slot(lists[0].encode()) if lists else 0
        blocking = [name for name in lists if key_slot(name.encode()) == slot]
    give_up = time.monotonic() + max(0.0, timeout)
    found: list[str] = []
    while timeout > 0 and not found:
        remaining = give_up - time.monotonic()
        if remaining <= 0:
            return []
        # (BLPOP's 0 would mean "forever")
        popped = store.redis.run(("BLPOP", *blocking, repr(max(0.01, min(remaining, max_block)))))
        if popped is not None:
            found.append(text(popped[1]))
        if len(blocking) < len(lists):
            break  # the other slots' lists are read below, once per chunk
    for name in lists:
        more = store.redis.run(("LPOP", name, 1000))
        found += [text(item) for item in more or ()]
    return found


class ControlOperations:
    """Revokes, ends and terminations of :class:`~taskq_redis.broker.RedisBroker`.

    A part of the broker: it runs on the broker's store (``_store``) and waiter (``_waiter``).
    """

    _store: Store
    _waiter: MarkerWaiter

    @reports_lost_connection
    def revoke(
        self,
        queue: str,
        message_id: str,
        *,
        terminate: bool = False,
        result_ttl: float = DEFAULT_RESULT_TTL,
    ) -> RevokeOutcome:
        """revoke.lua (after an HGET of the owner with ``terminate``); REVOKED stored if removed."""
        return revoke(self._store, queue, message_id, terminate, result_ttl)

    @reports_lost_connection
    def end(
        self, delivery: Delivery, *, status: EndStatus, result_ttl: float = DEFAULT_RESULT_TTL
    ) -> bool:
        """store_result and end.lua in one round trip; fenced like :meth:`ack`."""
        return end(self._store, delivery, status, result_ttl)

    @reports_lost_connection
    def wait_terminations(
        self, worker_id: str, queues: Sequence[str], *, timeout: float
    ) -> list[str]:
        """BLPOP on the worker's termination list of each queue, chunked by ``max_block``."""
        names = as_queue_list(queues)
        return wait_terminations(self._store, worker_id, names, timeout, self._waiter.max_block)

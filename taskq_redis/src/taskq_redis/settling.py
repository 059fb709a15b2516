"""Settling deliveries: ack, retry, postpone, dead, lease renewal, release and recovery.

Each is one fenced script per queue (``fence`` gives the id/token/worker triple they check),
sent in one round trip: a bare EVALSHA when it is one script, a pipeline otherwise. ``ack``,
``ack_many`` and ``dead`` with results put store_result.lua in front of their script in the
same round trip: the result key is outside the queue's tag, so the two cannot be one script on
Cluster, and the contract wants the result kept even when the settling script is fenced out.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from taskq_core.broker import DEFAULT_RESULT_TTL
from taskq_core.schemas import Message, RecoveryReport
from taskq_redis import results
from taskq_redis.codec import text
from taskq_redis.failures import reports_lost_connection
from taskq_redis.store import BATCH

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from taskq_core.schemas import Delivery, TaskResult
    from taskq_redis.keys import QueueKeys
    from taskq_redis.store import Call, Store

#: A result to store in front of a settling script: the result and its TTL in seconds.
Outcome = tuple["TaskResult", float]


def fence(held: Delivery) -> list[str | int]:
    """The id/token/worker triple every fenced script checks."""
    return [held.id, held.token, held.worker_id]


def ack_args(store: Store, held: Delivery) -> Call:
    """The ack.lua call for ``held``."""
    keys = store.keys(held.queue)
    return ("ack", _ack_keys(keys), [*fence(held), store.now_arg()])


def _ack_keys(keys: QueueKeys) -> list[str]:
    """KEYS of ack.lua and ack_many.lua."""
    return [
        keys.processing,
        keys.payloads,
        keys.state,
        keys.marker,
        keys.meta,
        *keys.ready,
        keys.done,
        keys.done_old,
        keys.history,
        keys.unique,
        keys.unique_until,
    ]


def ack(store: Store, held: Delivery, outcome: Outcome | None) -> bool:
    """ack.lua, behind store_result.lua when there is an ``outcome``; one round trip."""
    calls = [] if outcome is None else [results.store_args(store, *outcome)]
    calls.append(ack_args(store, held))
    return bool(store.redis.calls(calls)[-1])


def ack_many(
    store: Store, deliveries: Sequence[Delivery], outcomes: Sequence[Outcome | None]
) -> list[bool]:
    """store_result.lua for each outcome, then ack_many.lua per queue: one round trip.

    Bounded: at most BATCH deliveries per script call (``by_queue``); a bare EVALSHA when there
    is a single call (one queue, no result), which is the worker's common case.
    """
    calls = [results.store_args(store, *outcome) for outcome in outcomes if outcome is not None]
    stored = len(calls)
    groups = list(by_queue(deliveries))
    for queue, batch in groups:
        triples = [part for _, held in batch for part in fence(held)]
        calls.append(("ack_many", _ack_keys(store.keys(queue)), [*triples, store.now_arg()]))
    acked = [False] * len(deliveries)
    if not calls:
        return acked
    for (_, batch), flags in zip(groups, store.redis.calls(calls)[stored:], strict=True):
        for (index, _), flag in zip(batch, flags, strict=True):
            acked[index] = bool(flag)
    return acked


def bury(
    store: Store,
    keys: QueueKeys,
    triple: Sequence[str | int],
    reason: str,
    outcome: Outcome | None,
) -> bool:
    """dead.lua for the id/token/worker ``triple``; one round trip.

    store_result.lua goes in front when there is an ``outcome``.
    """
    calls = [] if outcome is None else [results.store_args(store, *outcome)]
    calls.append(
        (
            "dead",
            [
                keys.processing,
                keys.state,
                keys.dead,
                keys.marker,
                keys.meta,
                *keys.ready,
                keys.history,
                keys.unique,
                keys.unique_until,
            ],
            [store.now_arg(), *triple, reason],
        )
    )
    return bool(store.redis.calls(calls)[-1])


def send_back(store: Store, script: str, held: Delivery, extra: Sequence[str]) -> bool:
    """retry.lua or postpone.lua: the delivery back to READY or SCHEDULED (``extra`` ARGV).

    retry.lua also counts the retry in the queue's history (its 16th key).
    """
    keys = store.keys(held.queue)
    script_keys = [keys.processing, keys.state, keys.scheduled, keys.marker, keys.meta, *keys.ready]
    if script == "retry":
        script_keys.append(keys.history)
    return bool(store.redis.call(script, script_keys, [store.now_arg(), *fence(held), *extra]))


def extend_lease(store: Store, deliveries: Sequence[Delivery], lease: float) -> list[bool]:
    """extend_lease.lua per queue, all in one pipelined round trip."""
    groups = list(by_queue(deliveries))
    now = store.now_arg()

    calls: list[Call] = []
    for queue, batch in groups:
        keys = store.keys(queue)
        args: list[Any] = [now, repr(float(lease))]
        args += [part for _, held in batch for part in fence(held)]
        calls.append(("extend_lease", [keys.processing, keys.state], args))
    held = [False] * len(deliveries)
    for (_, batch), flags in zip(groups, store.redis.calls(calls), strict=True):
        for (index, _), flag in zip(batch, flags, strict=True):
            held[index] = bool(flag)
    return held


def release(store: Store, deliveries: Sequence[Delivery]) -> int:
    """release.lua per queue, all in one pipelined round trip; returns how many moved."""
    groups = list(by_queue(deliveries))

    calls: list[Call] = []
    for queue, batch in groups:
        keys = store.keys(queue)
        triples: list[Any] = [part for _, held in batch for part in fence(held)]
        calls.append(("release", [keys.processing, keys.state, keys.marker, *keys.ready], triples))
    return sum(int(count) for count in store.redis.calls(calls)) if calls else 0


def recover_expired(store: Store, queue: str, limit: int) -> RecoveryReport:
    """recover_expired.lua in slices of at most BATCH until ``limit`` or nothing is expired."""
    keys = store.keys(queue)
    script_keys = [
        *(keys.processing, keys.state, keys.dead, keys.marker, keys.meta),
        *(*keys.ready, keys.unique, keys.unique_until),
    ]
    default_max = Message.model_fields["max_deliveries"].default
    requeued: list[str] = []
    buried: list[str] = []
    while len(requeued) + len(buried) < limit:
        step = min(BATCH, limit - len(requeued) - len(buried))
        back, dead = store.redis.call(
            "recover_expired", script_keys, [store.now_arg(), step, default_max]
        )
        requeued += [text(item) for item in back]
        buried += [text(item) for item in dead]
        if len(back) + len(dead) < step:
            break
    return RecoveryReport(requeued=tuple(requeued), dead=tuple(buried))


def by_queue(deliveries: Sequence[Delivery]) -> Iterator[tuple[str, list[tuple[int, Delivery]]]]:
    """Deliveries grouped by queue, at most BATCH per group, with their original indexes."""
    groups: dict[str, list[tuple[int, Delivery]]] = defaultdict(list)
    for index, held in enumerate(deliveries):
        groups[held.queue].append((index, held))
    for queue, batch in groups.items():
        for start in range(0, len(batch), BATCH):
            yield queue, batch[start : start + BATCH]


class SettlingOperations:
    """Settlements and leases of :class:`~taskq_redis.broker.RedisBroker` (this module's functions).

    A part of the broker: it runs on the broker's store (``_store``).
    """

    _store: Store

    @reports_lost_connection
    def retry(self, delivery: Delivery, *, delay: float, error: str | None = None) -> bool:
        """Count a retry and send the message to READY, or to SCHEDULED ``delay`` s from now."""
        return send_back(self._store, "retry", delivery, [repr(float(delay)), error or ""])

    @reports_lost_connection
    def postpone(self, delivery: Delivery, *, delay: float) -> bool:
        """Put the message back (READY, or SCHEDULED ``delay`` s from now), counting nothing."""
        return send_back(self._store, "postpone", delivery, [repr(float(delay))])

    @reports_lost_connection
    def dead(
        self,
        delivery: Delivery,
        *,
        reason: str,
        result: TaskResult | None = None,
        result_ttl: float = DEFAULT_RESULT_TTL,
    ) -> bool:
        """Move the delivery's message to DEAD with ``reason``; fenced like :meth:`ack`.

        ``result`` (a FAILURE) is stored first in the same round trip, fenced out or not.
        """
        keys = self._store.keys(delivery.queue)
        outcome = None if result is None else (result, result_ttl)
        return bury(self._store, keys, fence(delivery), reason, outcome)

    @reports_lost_connection
    def extend_lease(self, deliveries: Sequence[Delivery], *, lease: float) -> list[bool]:
        """Renew every lease still held, in one pipelined round trip (one script per queue).

        ``lease=0`` expires them now, handing the messages to the next ``recover_expired``.
        """
        if lease < 0:
            raise ValueError(f"lease must not be negative, got {lease!r}")
        return extend_lease(self._store, deliveries, lease)

    @reports_lost_connection
    def release(self, deliveries: Sequence[Delivery]) -> int:
        """Give held deliveries back to the front of READY, uncounted; returns how many."""
        return release(self._store, deliveries)

    @reports_lost_connection
    def recover_expired(self, queue: str, *, limit: int = 1000) -> RecoveryReport:
        """Hand back expired leases (front of READY, or DEAD at max_deliveries), bounded.

        Each script call recovers at most 1000 and keeps their order at the front of READY;
        a larger recovery puts later slices ahead of earlier ones.
        """
        return recover_expired(self._store, queue, limit)

"""Workflow steps on Redis: flow.lua acks or buries a delivery and applies its continuation.

The worker calls these only for messages that carry a flow header; plain tasks keep ack.lua
and ack_many.lua. The step's own result is stored by store_result.lua pipelined in front, as
for a plain ack (the result is kept even when the step is fenced out).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from redis.exceptions import ResponseError

from taskq_core.broker import DEFAULT_RESULT_TTL, outcomes_of
from taskq_redis import results
from taskq_redis.chord_index import chord_index_keys
from taskq_redis.failures import broker_full, reports_lost_connection
from taskq_redis.keys import queues_key, result_key
from taskq_redis.settling import by_queue, fence

if TYPE_CHECKING:
    from collections.abc import Sequence

    from taskq_core.canvas.effects import Continuation
    from taskq_core.schemas import Delivery, Message, TaskResult
    from taskq_redis.keys import QueueKeys
    from taskq_redis.store import Store

#: KEYS of flow.lua before the continuation's own keys.
_FIXED_KEYS = 20


class _Keys:
    """flow.lua's KEYS: the fixed ones, then each other key once, referred to by index."""

    def __init__(self, store: Store, settled: QueueKeys) -> None:
        self.store = store
        self.names: list[str] = [
            settled.processing,
            settled.payloads,
            settled.state,
            settled.marker,
            settled.meta,
            *settled.ready,
            settled.done,
            settled.done_old,
            settled.history,
            settled.dead,
            queues_key(store.prefix),
        ]
        self._index: dict[str, int] = {}

    def ref(self, name: str) -> int:
        """The 1-based KEYS index of ``name``, adding it on first use."""
        index = self._index.get(name)
        if index is None:
            self.names.append(name)
            index = self._index[name] = len(self.names)
        return index

    def send(self, message: Message, eta: float | None, payload: str | None = None) -> list[Any]:
        """The 12 ARGV of one send (``payload=None``: the message's JSON)."""
        keys = self.store.keys(message.queue)
        ref = self.ref
        return [
            ref(keys.payloads),
            ref(keys.state),
            ref(keys.scheduled),
            ref(keys.marker),
            ref(keys.ready_for(message.priority)),
            ref(result_key(self.store.prefix, message.id)),
            message.queue,
            message.id,
            message.to_json() if payload is None else payload,
            message.priority,
            message.max_deliveries,
            "" if eta is None else repr(float(eta)),
        ]

    def chord(self, callback: Message) -> int:
        """The index of the join record of the chord whose callback is ``callback``."""
        return self.ref(f"{self.store.keys(callback.queue).base}:chord:{callback.id}")

    def chord_index(self, callback: Message) -> list[int]:
        """The indexes of the callback queue's open and failed chord indexes."""
        waiting, failed = chord_index_keys(self.store.keys(callback.queue))
        return [self.ref(waiting), self.ref(failed)]


#: One step of flow.lua: the delivery (``None`` for a start), its continuation, the reason
#: (``dead``) and the TTL of the results it stores.
Step = tuple["Delivery | None", "Continuation", str, float]


def flow_call(store: Store, mode: str, steps: Sequence[Step]) -> tuple[str, list[str], list[Any]]:
    """The flow.lua call settling ``steps`` (all of one queue) as ``mode``."""
    first = steps[0][0]
    queue = first.queue if first is not None else _any_queue(steps[0][1])
    keys = _Keys(store, store.keys(queue))
    args: list[Any] = [mode, store.now_arg(), len(steps)]
    for settled, continuation, reason, ttl in steps:
        triple = fence(settled) if settled is not None else ["", "", ""]
        join = continuation.join
        args += [
            *triple,
            reason,
            len(continuation.chords),
            len(continuation.sends),
            len(continuation.results),
            0 if join is None else 1,
        ]
        for spec in continuation.chords:
            args += [keys.chord(spec.callback), keys.chord_index(spec.callback)[0], spec.size]
            args += [json.dumps(spec.members), *keys.send(spec.callback, None)]
        for message, eta in continuation.sends:
            args += keys.send(message, eta)
        for stored in continuation.results:
            args += [keys.ref(result_key(store.prefix, stored.id)), repr(float(ttl))]
            args.append(stored.to_json())
        if join is not None:
            args += [keys.chord(join.callback), *keys.chord_index(join.callback)]
            args += [join.index, join.member_id, join.value]
            args += keys.send(join.callback, None, payload="")
            args += [repr(float(ttl)), len(join.failures)]
            for failure in join.failures:
                args += [keys.ref(result_key(store.prefix, failure.id)), failure.to_json()]
            args.append(len(join.errbacks))
            for errback in join.errbacks:
                args += keys.send(errback, None)
    return ("flow", keys.names, args)


def settle(
    store: Store,
    mode: str,
    held: Delivery | None,
    continuation: Continuation,
    outcome: tuple[TaskResult, float] | None,
    *,
    reason: str = "",
    ttl: float,
) -> bool:
    """store_result.lua (when there is an ``outcome``), then flow.lua; one round trip."""
    calls = [] if outcome is None else [results.store_args(store, *outcome)]
    calls.append(flow_call(store, mode, [(held, continuation, reason, ttl)]))
    return bool(store.redis.calls(calls)[-1][0])


def settle_many(
    store: Store,
    deliveries: Sequence[Delivery],
    continuations: Sequence[Continuation],
    outcomes: Sequence[tuple[TaskResult, float] | None],
) -> list[bool]:
    """store_result.lua for each outcome, then flow.lua (``ack``) per delivery; one round trip.

    Each flow.lua call is atomic on its own; the batch is not, as for ack_many.
    """
    if not deliveries:
        return []
    calls = [results.store_args(store, *outcome) for outcome in outcomes if outcome is not None]
    stored = len(calls)
    groups = list(by_queue(deliveries))
    for _, batch in groups:
        steps: list[Step] = []
        for index, held in batch:
            outcome = outcomes[index]
            ttl = outcome[1] if outcome is not None else DEFAULT_RESULT_TTL
            steps.append((held, continuations[index], "", ttl))
        calls.append(flow_call(store, "ack", steps))
    acked = [False] * len(deliveries)
    for (_, batch), flags in zip(groups, store.redis.calls(calls)[stored:], strict=True):
        for (index, _), flag in zip(batch, flags, strict=True):
            acked[index] = bool(flag)
    return acked


def _any_queue(continuation: Continuation) -> str:
    """A queue of the continuation, for the (unused) fixed keys of a ``start``."""
    for message, _ in continuation.sends:
        return message.queue
    for spec in continuation.chords:
        return spec.callback.queue
    return "default"


def start(store: Store, continuation: Continuation) -> None:
    """flow.lua in ``start`` mode: chords and first messages of a workflow, atomically.

    Raises:
        BrokerFullError: Redis is out of memory; nothing was written.
    """
    call = flow_call(store, "start", [(None, continuation, "", 0.0)])
    try:
        store.redis.call(*call)
    except ResponseError as exc:
        if (full := broker_full(exc, "the workflow")) is None:
            raise
        raise full from exc


class FlowOperations:
    """Workflow steps of :class:`~taskq_redis.broker.RedisBroker` (this module's functions).

    A part of the broker: it runs on the broker's store (``_store``).
    """

    _store: Store

    @reports_lost_connection
    def ack_and_continue(
        self,
        delivery: Delivery,
        continuation: Continuation,
        *,
        result: TaskResult | None = None,
        result_ttl: float = DEFAULT_RESULT_TTL,
    ) -> bool:
        """Store ``result``, then ack and continue in one flow.lua call; one round trip."""
        outcome = None if result is None else (result, result_ttl)
        return settle(self._store, "ack", delivery, continuation, outcome, ttl=result_ttl)

    @reports_lost_connection
    def ack_and_continue_many(
        self,
        deliveries: Sequence[Delivery],
        continuations: Sequence[Continuation],
        *,
        results: Sequence[TaskResult | None] | None = None,
        result_ttl: float | Sequence[float] = DEFAULT_RESULT_TTL,
    ) -> list[bool]:
        """The store_result calls, then one flow.lua per delivery, in one round trip."""
        outcomes = outcomes_of(deliveries, results, result_ttl)
        return settle_many(self._store, deliveries, continuations, outcomes)

    @reports_lost_connection
    def dead_and_continue(
        self,
        delivery: Delivery,
        continuation: Continuation,
        *,
        reason: str,
        result: TaskResult | None = None,
        result_ttl: float = DEFAULT_RESULT_TTL,
    ) -> bool:
        """Store ``result``, then bury and continue in one flow.lua call; one round trip."""
        outcome = None if result is None else (result, result_ttl)
        return settle(
            self._store, "dead", delivery, continuation, outcome, reason=reason, ttl=result_ttl
        )

    @reports_lost_connection
    def start_flow(self, continuation: Continuation) -> None:
        """Create the chords and send the first messages in one flow.lua call."""
        start(self._store, continuation)

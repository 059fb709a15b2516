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

from redis.exceptions import ResponseError

from taskq_core.broker import partial_send
from taskq_redis.codec import DEFAULT_MAX_DELIVERIES, expires_arg, stored_payload, text
from taskq_redis.failures import broker_full
from taskq_redis.keys import queues_key, result_key
from taskq_redis.store import BATCH

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from taskq_core.schemas import Message
    from taskq_core.unique import UniqueClaim
    from taskq_redis.runner import Command
    from taskq_redis.store import Call, Store

#: Seconds between two SADDs of the same queue name from one broker instance.
ANNOUNCE_INTERVAL = 60.0


def write(
    store: Store, batch: Sequence[tuple[Message, float | None]], *, replace_result: bool = False
) -> list[bool]:
    """Write each ``(message, eta)`` (``eta=None``: now) in one round trip.

    One message is one send.lua call; more are one send_many.lua call per queue and per
    BATCH messages, each sent as soon as it is encoded. The SADD of queue names not announced
    lately goes in the same round trip. With ``replace_result`` each call also names the
    messages' result keys, which the script deletes for the messages it writes.

    Returns:
        For each message, whether it was written (``False``: the id was already known).

    Raises:
        BrokerFullError: Redis is out of memory and nothing was written.
        PartialSendError: some script calls were refused after others wrote their messages.
    """
    if not batch:
        return []
    if replace_result and store.redis.cluster:
        forget_stale_results(store, [message for message, _ in batch])
        replace_result = False
    if len(batch) == 1 and (call := steady_call(store, *batch[0], replace_result)) is not None:
        # send_ready's KEYS are one queue's: its command head is packed once.
        run = store.redis.call_repeated if call[0] == "send_ready" else store.redis.call
        try:
            return [bool(run(*call))]
        except ResponseError as exc:
            if (full := broker_full(exc, "the send")) is None:
                raise
            raise full from exc
    plan = WritePlan(store, batch, replace_result)
    # Each call goes out as soon as it is built: Redis writes the first chunk while the next
    # one is encoded (sends are idempotent by id, so a retried stream is harmless).
    return plan.outcome(store.redis.batch(plan.commands(), raise_on_error=False))


def steady_call(
    store: Store, message: Message, eta: float | None, replace_result: bool
) -> Call | None:
    """The one script call that sends ``message`` in the steady state, else ``None``.

    The steady state: this broker announced the queue's name (SADD) within
    ``ANNOUNCE_INTERVAL``, so the send is one bare EVALSHA; otherwise the send goes through a
    :class:`WritePlan`, which leads with the SADD.
    """
    if time.monotonic() - store.announced.get(message.queue, -ANNOUNCE_INTERVAL) >= (
        ANNOUNCE_INTERVAL
    ):
        return None
    return _send_one(store, store.now_arg(), message, eta, replace_result)


def stale_result_reads(store: Store, messages: Sequence[Message]) -> list[Command]:
    """HMGET of each queue's payloads for these ids (one command per queue: one slot each)."""
    by_queue: dict[str, list[str]] = defaultdict(list)
    for message in messages:
        by_queue[message.queue].append(message.id)
    return [("HMGET", store.keys(queue).payloads, *ids) for queue, ids in by_queue.items()]


def stale_result_keys(
    store: Store, messages: Sequence[Message], replies: Sequence[Any]
) -> list[str]:
    """Result keys of the ids no queue holds, from the replies of :func:`stale_result_reads`."""
    by_queue: dict[str, list[str]] = defaultdict(list)
    for message in messages:
        by_queue[message.queue].append(message.id)
    return [
        result_key(store.prefix, message_id)
        for ids, held in zip(by_queue.values(), replies, strict=True)
        for message_id, payload in zip(ids, held, strict=True)
        if payload is None
    ]


def forget_stale_results(store: Store, messages: Sequence[Message]) -> None:
    """``replace_result`` on a cluster: delete the results of ids no queue holds, then send.

    The result key is in its own slot, so the send cannot delete it in the same script. The
    ids still held keep their results, as the script would have it; an id sent again by
    someone else between the read and the send is the one race this leaves.
    """
    replies = store.redis.batch(stale_result_reads(store, messages))
    stale = stale_result_keys(store, messages, replies)
    if stale:
        store.redis.batch([("DEL", key) for key in stale])


class WritePlan:
    """The script calls of one write, and how their replies read.

    The sync path and the asyncio one (``aio.py``) both run it, so a message is written by
    the same scripts either way. The SADD of queue names not announced lately (``lead``)
    goes first in the same round trip.
    """

    def __init__(
        self, store: Store, batch: Sequence[tuple[Message, float | None]], replace_result: bool
    ) -> None:
        self._store = store
        self._batch = batch
        self._replace_result = replace_result
        self._now = store.now_arg()
        groups: dict[str, list[int]] = defaultdict(list)
        for index, (message, _) in enumerate(batch):
            groups[message.queue].append(index)
        self._slices: list[list[int]] = []
        if len(batch) == 1:
            self._slices.append([0])
        else:
            for indexes in groups.values():
                self._slices += [
                    indexes[start : start + BATCH] for start in range(0, len(indexes), BATCH)
                ]
        self._stale = _unannounced(store, groups)
        #: The plain command that leads the round trip (an SADD), if any.
        self.lead = ("SADD", queues_key(store.prefix), *self._stale) if self._stale else None

    def commands(self) -> Iterator[Command]:
        """The round trip's commands: the lead, then each script call as it is built."""
        if self.lead is not None:
            yield self.lead
        script = self._store.redis.scripts.command
        for call in self.calls():
            yield script(*call)

    def calls(self) -> Iterator[Call]:
        """The script calls, built one at a time (a payload is encoded as its call is made)."""
        batch, store, now, replace = self._batch, self._store, self._now, self._replace_result
        if len(batch) == 1:
            yield _send_one(store, now, *batch[0], replace)
            return
        for chunk in self._slices:
            queue = batch[chunk[0]][0].queue
            yield _send_many(store, now, queue, [batch[i] for i in chunk], replace)

    def outcome(self, replies: list[Any]) -> list[bool]:
        """For each message, whether it was written; ``replies`` lead's first, errors in place.

        Raises:
            BrokerFullError: Redis is out of memory and nothing was written.
            PartialSendError: some script calls were refused after others wrote their messages.
        """
        if self._stale:
            if not isinstance(replies[0], Exception):  # refused (out of memory): SADD next time
                self._store.announced.update(dict.fromkeys(self._stale, time.monotonic()))
            replies = replies[1:]
        written = [False] * len(self._batch)
        failed: list[int] = []
        error: Exception | None = None
        for chunk, reply in zip(self._slices, replies, strict=True):
            if isinstance(reply, Exception):
                failed += chunk
                error = error or reply
                continue
            flags = reply if isinstance(reply, list) else [reply]
            for index, flag in zip(chunk, flags, strict=True):
                written[index] = bool(flag)
        if error is not None:
            raise _partial(self._batch, sorted(failed), error)
        return written


def _partial(
    batch: Sequence[tuple[Message, float | None]], failed: list[int], error: Exception
) -> Exception:
    """The error of a write whose ``failed`` indexes were refused (chained to ``error``)."""
    cause: Exception = error
    full = broker_full(error, "the send")
    if full is not None:
        full.__cause__ = error
        cause = full
    if len(failed) == len(batch):
        return cause
    refused_ids = set(failed)
    ids = [message.id for message, _ in batch]
    sent = [ids[i] for i in range(len(ids)) if i not in refused_ids]
    partial = partial_send(sent, [ids[i] for i in failed], cause)
    partial.__cause__ = cause
    return partial


def _unannounced(store: Store, queues: Any) -> list[str]:
    """Queue names this broker has not SADDed in the last ``ANNOUNCE_INTERVAL`` seconds."""
    now = time.monotonic()
    return sorted(
        q for q in queues if now - store.announced.get(q, -ANNOUNCE_INTERVAL) >= ANNOUNCE_INTERVAL
    )


def _send_one(
    store: Store,
    now: str,
    message: Message,
    eta: float | None,
    replace_result: bool,
    claim: UniqueClaim | None = None,
) -> Call:
    """The script call that writes one message: send_ready.lua when it can, else send.lua.

    send_ready.lua writes a message due now without state fields (priority 0, the default
    max_deliveries), expiry, unique key or result key to delete.
    """
    keys = store.keys(message.queue)
    if (
        eta is None
        and claim is None
        and not replace_result
        and message.priority == 0
        and message.max_deliveries == DEFAULT_MAX_DELIVERIES
        and message.expires is None
    ):
        return (
            "send_ready",
            [keys.payloads, keys.ready[0], keys.marker],
            [message.id, stored_payload(message)],
        )
    names = [
        keys.payloads,
        keys.state,
        keys.scheduled,
        keys.marker,
        keys.ready_for(message.priority),
        keys.unique,
        keys.unique_until,
    ]
    if replace_result:
        names.append(result_key(store.prefix, message.id))
    args: list[str | int] = [
        now,
        message.id,
        stored_payload(message),
        message.priority,
        message.max_deliveries,
        "" if eta is None else repr(float(eta)),
    ]
    expires = expires_arg(message)
    if claim is not None:
        args += [claim.key, repr(float(claim.ttl)), claim.until]
    elif expires:
        args += ["", "", ""]
    if expires:
        args.append(expires)
    return ("send", names, args)


def write_unique(
    store: Store,
    message: Message,
    claim: UniqueClaim,
    *,
    eta: float | None,
    replace_result: bool,
) -> str:
    """send.lua with a unique key: the id of the message holding ``claim.key`` after the call.

    ``message.id`` when this call wrote the message (or the id was known already); another id
    when that message holds the key and nothing was written.

    Raises:
        BrokerFullError: Redis is out of memory and nothing was written.
    """
    if replace_result and store.redis.cluster:
        forget_stale_results(store, [message])
        replace_result = False
    call = _send_one(store, store.now_arg(), message, eta, replace_result, claim)
    moment = time.monotonic()
    fresh = moment - store.announced.get(message.queue, -ANNOUNCE_INTERVAL) >= ANNOUNCE_INTERVAL
    try:
        if fresh:
            _, reply = store.redis.batch(
                [("SADD", queues_key(store.prefix), message.queue), store.redis.script(*call)]
            )
            store.announced[message.queue] = moment
        else:
            reply = store.redis.call(*call)
    except ResponseError as exc:
        if (full := broker_full(exc, "the send")) is None:
            raise
        raise full from exc
    if isinstance(reply, bytes | str):
        return text(reply)
    return message.id


def _send_many(
    store: Store,
    now: str,
    queue: str,
    batch: Sequence[tuple[Message, float | None]],
    replace_result: bool,
) -> Call:
    keys = store.keys(queue)
    args: list[Any] = [now]
    extend = args.extend
    for message, eta in batch:
        when = "" if eta is None else repr(float(eta))
        extend(
            (
                message.id,
                stored_payload(message),
                message.priority,
                message.max_deliveries,
                when,
                expires_arg(message),
            )
        )
    names = [keys.payloads, keys.state, keys.scheduled, keys.marker, *keys.ready]
    if replace_result:
        names += [result_key(store.prefix, message.id) for message, _ in batch]
    return ("send_many", names, args)


def promote(store: Store, queue: str, limit: int) -> int:
    """promote.lua until ``limit`` moved or nothing more is due; returns how many moved."""
    keys = store.keys(queue)
    moved = 0
    while moved < limit:
        step = min(BATCH, limit - moved)
        count = int(
            store.redis.call(
                "promote",
                [keys.scheduled, keys.state, keys.marker, *keys.ready],
                [store.now_arg(), step],
            )
        )
        moved += count
        if count < step:
            break
    return moved

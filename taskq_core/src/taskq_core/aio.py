"""The asyncio producer API: send and wait for results from a running event loop.

``await add.adelay(1, 2)``, ``await add.aapply_async(...)``, ``await add.adelay_many(...)`` and
``await result.aget(timeout=...)`` are the ``a``-prefixed twins of the sync calls (Django's
convention). They validate and build messages with the very code the sync calls use
(``Task.build_message``, ``Taskq.resolve_eta``), fire the same ``taskq_before_send`` and
``taskq_after_send`` hooks, and hand the messages to the broker's :class:`AsyncProducer`, which
writes them with the same atomic steps as the sync broker (on Redis, the same Lua scripts on a
``redis.asyncio`` client). No call blocks the loop, and none runs the sync client in a thread.

A backend opts in by returning an :class:`AsyncProducer` from
``async_producer()``, the ``AsyncProducing`` capability; without it ``adelay`` raises a
one-line :class:`~taskq_core.errors.MissingCapability`.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING

from taskq_core.bulk import BULK_CHUNK, refusal
from taskq_core.errors import TaskqError
from taskq_core.plugins import after_send, before_send

if TYPE_CHECKING:
    from collections.abc import Sequence

    from taskq_core.app import Taskq
    from taskq_core.schemas import Message, TaskResult


class AsyncProducer(abc.ABC):
    """A broker's producer side for asyncio: what ``adelay`` and ``aget`` need, awaitable.

    Every method keeps the promise of its sync twin on :class:`~taskq_core.broker.BaseBroker`
    (idempotent sends by id, ``replace_result``, waits without polling) and never blocks the
    running loop. One producer may serve several event loops (one after the other, or in
    several threads); connections bound to a loop are used from that loop only.
    """

    @abc.abstractmethod
    async def asend(
        self, message: Message, *, eta: float | None = None, replace_result: bool = False
    ) -> bool:
        """Write one message, like ``send`` (``eta=None``) or ``schedule``; ``False``: id known.

        Raises:
            BrokerFullError: the broker is out of memory; nothing was written.
        """

    @abc.abstractmethod
    async def asend_batch(
        self, messages: Sequence[Message], *, eta: float | None = None, replace_result: bool = False
    ) -> list[bool]:
        """Write many messages, like ``send_batch``; result ``i`` is ``asend(messages[i])``'s.

        Raises:
            PartialSendError: part of the batch was refused after another part was written.
            BrokerFullError: the broker is out of memory; nothing was written.
        """

    @abc.abstractmethod
    async def aget_result(
        self, message_id: str, *, timeout: float | None = 0.0
    ) -> TaskResult | None:
        """Like ``get_result``: the stored result, waiting up to ``timeout`` real seconds.

        ``None`` waits until it arrives. Any number of waiters, without polling, and without
        keeping the loop from running other coroutines meanwhile.
        """

    @abc.abstractmethod
    async def aforget_result(self, message_id: str) -> None:
        """Delete the stored result of ``message_id``, if any."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, no-op by default
        """Close the connections the running loop uses; a later call opens new ones."""


async def asend_message(
    app: Taskq, message: Message, *, eta: float | None, replace_result: bool
) -> bool:
    """``Taskq.send_message`` for asyncio: hooks around one awaited write."""
    producer = app.async_producer()
    before_send((message,))
    accepted = await producer.asend(message, eta=eta, replace_result=replace_result)
    after_send((message,), eta)
    return accepted


async def asend_messages(
    app: Taskq, messages: Sequence[Message], *, eta: float | None, replace_result: bool
) -> list[bool]:
    """``Taskq.send_messages`` for asyncio: every ``before_send`` first, then chunked writes.

    Raises:
        PartialSendError: the broker refused part of the batch after writing another part.
    """
    producer = app.async_producer()
    before_send(messages)
    written: list[bool] = []
    for start in range(0, len(messages), BULK_CHUNK):
        chunk = messages[start : start + BULK_CHUNK]
        try:
            written += await producer.asend_batch(chunk, eta=eta, replace_result=replace_result)
        except TaskqError as exc:
            error = refusal(messages, start, len(chunk), written, exc)
            if error is exc:
                raise
            raise error from error.__cause__
    after_send(messages, eta)
    return written

"""Ways to produce beyond ``send``: unique keys, periodic ticks and the asyncio producer.

``unique_for=`` and ``unique_key=`` need :class:`UniqueSends`, periodic schedules need
:class:`PeriodicTicks`, ``adelay`` and ``aget`` need :class:`AsyncProducing`.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING

from taskq_core.capabilities.base import Capability

if TYPE_CHECKING:
    from taskq_core.aio import AsyncProducer
    from taskq_core.schemas import Message
    from taskq_core.unique import UniqueClaim


class UniqueSends(Capability):
    """Capability: send a message unless another message of its queue holds its unique key."""

    offers = "unique sends"

    @abc.abstractmethod
    def send_unique(
        self,
        message: Message,
        claim: UniqueClaim,
        *,
        eta: float | None = None,
        replace_result: bool = False,
    ) -> str:
        """Send ``message`` unless another message of its queue holds ``claim.key``.

        Writes as :meth:`send` does (as :meth:`schedule` with ``eta``). One atomic step: the
        key is claimed for ``message.id`` and the message written together, so of any number
        of racing sends exactly one writes. While another message holds the key, nothing is
        written and that message's id is returned. A hold ends ``claim.ttl`` seconds of broker
        time after it was claimed; with ``claim.until == "done"`` it also ends when its message
        is acked or goes to DEAD (by ``dead`` or ``recover_expired``), whichever comes first.
        Retries, postpones and releases keep it. A known id writes nothing, as for
        :meth:`send`.

        Returns:
            The id of the message holding the key after the call: ``message.id`` when this call
            wrote it (or the id was known already), another id for a duplicate.

        Raises:
            BrokerFullError: the broker is out of memory; nothing was written.
        """


class PeriodicTicks(Capability):
    """Capability: claim each tick of a periodic schedule once, however many schedulers run."""

    offers = "periodic ticks"

    @abc.abstractmethod
    def claim_tick(self, message: Message, *, schedule: str, tick: float) -> bool:
        """Claim tick ``tick`` of the periodic schedule ``schedule`` and send ``message`` for it.

        One atomic step: the tick is claimed only when it is later than every tick of
        ``schedule`` claimed before in ``message.queue``, and a claimed tick's message is in
        READY in that same step. So however many schedulers offer one tick, exactly one message
        is sent, an older tick offered late is refused, and no scheduler can die between claim
        and send. The claimed tick is kept (see :meth:`last_tick`); one value per schedule, so
        the record does not grow.

        Returns ``True`` when this call claimed the tick and wrote the message. ``False`` and no
        change when the tick (or a later one) was claimed already, which is also what a call
        retried after a lost reply answers; the message id (derived from schedule and tick)
        is refused like any known id of :meth:`send`.
        """

    @abc.abstractmethod
    def last_tick(self, queue: str, schedule: str) -> float | None:
        """The latest tick of ``schedule`` claimed in ``queue``, or ``None`` if none was."""


class AsyncProducing(Capability):
    """Capability: a producer for asyncio code that never blocks the loop."""

    offers = "an asyncio producer"

    @abc.abstractmethod
    def async_producer(self) -> AsyncProducer:
        """The producer side for asyncio code (``adelay``, ``aget``).

        Returns the same object on every call; it never blocks the loop and never runs this
        broker's sync client in a thread. The broker's ``close`` also closes its connections.
        """

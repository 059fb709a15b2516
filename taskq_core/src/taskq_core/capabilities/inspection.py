"""Inspection for dashboards: per-minute outcome history and what a queue holds about one id.

The dashboard needs it; ``counts``, ``queues`` and ``list_dead`` are in the core.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, cast

from taskq_core.capabilities.base import Capability
from taskq_core.capabilities.control import QueueControl

if TYPE_CHECKING:
    from taskq_core.broker import BaseBroker
    from taskq_core.schemas import MessageInfo, MinuteCounts, QueueStats


class Inspection(Capability):
    """Capability: outcome history per minute and a message's record, read-only."""

    offers = "inspection (history, message info)"

    @abc.abstractmethod
    def history(self, queue: str, *, minutes: int = 60) -> list[MinuteCounts]:
        """Outcomes per minute of broker time: the last ``minutes`` minutes, oldest first.

        One entry per minute up to the current one, zeros included. Counted in the same atomic
        step as the state change: ``ack``/``ack_many`` (succeeded), ``dead`` (failed), ``retry``
        (retried), ``end`` and ``revoke`` (expired, revoked). Bounded: the broker keeps
        :data:`~taskq_core.schemas.HISTORY_MINUTES` minutes; ``minutes`` outside
        ``1..HISTORY_MINUTES`` raises ``ValueError``.
        """

    def queue_stats(self, queue: str, *, minutes: int = 60) -> QueueStats:
        """``counts``, :meth:`history` and ``paused`` (``False`` without :class:`QueueControl`).

        Backends override it to save round trips. Not atomic: the parts may be a moment apart,
        which a dashboard tolerates.
        """
        from taskq_core.schemas import QueueStats

        history = self.history(queue, minutes=minutes)
        counts = cast("BaseBroker", self).counts(queue)
        paused = isinstance(self, QueueControl) and self.paused(queue)
        return QueueStats(counts=counts, history=tuple(history), paused=paused)

    @abc.abstractmethod
    def message_info(self, queue: str, message_id: str) -> MessageInfo | None:
        """What ``queue`` holds about ``message_id`` (state, payload, counters), or ``None``.

        ``None`` when the queue does not hold it (never sent there, acked or purged). Reads
        only; cheap (a few O(1) lookups), so a dashboard may call it once per queue.
        """

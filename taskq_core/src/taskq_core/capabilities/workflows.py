"""Workflows: the atomic steps chains, groups and chords are built on.

``chain``, ``group``, ``chord`` and a task's ``link=`` / ``link_error=`` need it.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING

from taskq_core.broker import DEFAULT_RESULT_TTL, outcomes_of
from taskq_core.capabilities.base import Capability

if TYPE_CHECKING:
    from collections.abc import Sequence

    from taskq_core.canvas.effects import Continuation
    from taskq_core.schemas import Delivery, TaskResult


class Workflows(Capability):
    """Capability: settle a delivery and apply its workflow continuation in one atomic step."""

    offers = "workflows (chains, groups, chords)"

    @abc.abstractmethod
    def ack_and_continue(
        self,
        delivery: Delivery,
        continuation: Continuation,
        *,
        result: TaskResult | None = None,
        result_ttl: float = DEFAULT_RESULT_TTL,
    ) -> bool:
        """:meth:`ack` and apply ``continuation`` in one atomic step, or do neither.

        Fenced like :meth:`ack`; ``result`` is stored as by :meth:`ack`. When the ack happens,
        in the same step: every chord of ``continuation.chords`` is created (an id that already
        has a join record is left alone), every message of ``continuation.sends`` is sent
        (idempotent by id, deleting a result stored under its id), ``continuation.results``
        are stored, and ``continuation.join`` records the member's value under its index in
        its chord. Members are counted by index, once each, so a member acked twice (two
        deliveries, at-least-once) counts once. When the last distinct member joins, the
        callback is sent, exactly once, with the member values in index order in place of
        :data:`~taskq_core.canvas.effects.CHORD_RESULTS`, and any FAILURE stored under its id
        is deleted; the join record is then dropped, so later joins change nothing. A join for
        a chord with no record (never created, or already fired) changes nothing.

        A call that answers ``True`` for an ack applied by an earlier call whose reply was lost
        applies nothing again. Returns ``False`` and changes nothing if the lease was lost.
        """

    def ack_and_continue_many(
        self,
        deliveries: Sequence[Delivery],
        continuations: Sequence[Continuation],
        *,
        results: Sequence[TaskResult | None] | None = None,
        result_ttl: float | Sequence[float] = DEFAULT_RESULT_TTL,
    ) -> list[bool]:
        """:meth:`ack_and_continue` for each delivery in turn; result ``i`` is what it answers.

        Each delivery and its continuation are one atomic step on their own; the batch as a
        whole is not (as :meth:`ack_many`). Backends override it to save round trips; this
        default loops.
        """
        outcomes = outcomes_of(deliveries, results, result_ttl)
        acked: list[bool] = []
        for delivery, then, outcome in zip(deliveries, continuations, outcomes, strict=True):
            result, ttl = outcome if outcome is not None else (None, DEFAULT_RESULT_TTL)
            acked.append(self.ack_and_continue(delivery, then, result=result, result_ttl=ttl))
        return acked

    @abc.abstractmethod
    def dead_and_continue(
        self,
        delivery: Delivery,
        continuation: Continuation,
        *,
        reason: str,
        result: TaskResult | None = None,
        result_ttl: float = DEFAULT_RESULT_TTL,
    ) -> bool:
        """:meth:`dead` and apply ``continuation`` (error callbacks) in one atomic step.

        Fenced like :meth:`dead`. When the burial happens, in the same step: ``sends`` are sent
        and ``results`` stored (as by :meth:`ack_and_continue`); and when the message is a
        chord member (``continuation.join``) whose chord is not already failed: the chord is
        marked failed, ``join.failure`` is stored under the callback id and ``join.errbacks``
        are sent. A failed chord keeps its join record: a member requeued from DEAD that then
        succeeds still completes it, and the callback then runs.
        """

    @abc.abstractmethod
    def start_flow(self, continuation: Continuation) -> None:
        """Create ``continuation.chords`` and send ``continuation.sends`` in one atomic step.

        A producer starts a workflow with it, so a chord's record and its members are written
        together or not at all. ``join`` must be ``None``.

        Raises:
            BrokerFullError: the broker is out of memory; nothing was written.
        """

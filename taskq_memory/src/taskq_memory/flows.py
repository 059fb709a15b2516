"""Workflows in one process: each settlement and its follow-up under one hold of the lock.

The index of open chords reads the same join records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskq_core.broker import DEFAULT_RESULT_TTL, outcomes_of
from taskq_core.capabilities import ChordIndex, Workflows
from taskq_core.capabilities.chord_index import ChordDetail, OpenChords
from taskq_memory.record import Record
from taskq_memory.state import MemoryState

if TYPE_CHECKING:
    from collections.abc import Sequence

    from taskq_core.canvas.effects import Continuation
    from taskq_core.schemas import Delivery, TaskResult


class MemoryWorkflows(MemoryState, Workflows):
    """Chains, groups and chords: ``ack_and_continue``, ``dead_and_continue``, ``start_flow``."""

    def ack_and_continue(
        self,
        delivery: Delivery,
        continuation: Continuation,
        *,
        result: TaskResult | None = None,
        result_ttl: float = DEFAULT_RESULT_TTL,
    ) -> bool:
        """Ack and apply ``continuation`` under one hold of the lock (see the contract)."""
        with self._lock:
            return self._ack_and_continue(delivery, continuation, result, result_ttl)

    def ack_and_continue_many(
        self,
        deliveries: Sequence[Delivery],
        continuations: Sequence[Continuation],
        *,
        results: Sequence[TaskResult | None] | None = None,
        result_ttl: float | Sequence[float] = DEFAULT_RESULT_TTL,
    ) -> list[bool]:
        """Each :meth:`ack_and_continue` in turn under one hold of the lock."""
        outcomes = outcomes_of(deliveries, results, result_ttl)
        with self._lock:
            return [
                self._ack_and_continue(held, then, *(outcome or (None, DEFAULT_RESULT_TTL)))
                for held, then, outcome in zip(deliveries, continuations, outcomes, strict=True)
            ]

    def _ack_and_continue(
        self,
        delivery: Delivery,
        continuation: Continuation,
        result: TaskResult | None,
        result_ttl: float,
    ) -> bool:
        def follow_up() -> None:
            self._continue(continuation, result_ttl)
            if continuation.join is not None:
                callback = self._chords.join(continuation.join)
                if callback is not None:
                    self._add(callback.queue, Record.of(callback), None, True)
            self._work_may_be_ready.notify_all()

        return self._ack(delivery, result, result_ttl, follow_up)

    def dead_and_continue(
        self,
        delivery: Delivery,
        continuation: Continuation,
        *,
        reason: str,
        result: TaskResult | None = None,
        result_ttl: float = DEFAULT_RESULT_TTL,
    ) -> bool:
        """Bury and apply ``continuation`` under one hold of the lock (see the contract)."""
        with self._lock:
            if not self._bury(delivery, reason, result, result_ttl):
                return False
            self._continue(continuation, result_ttl)
            join = continuation.join
            if join is not None and self._chords.fail(join, self.now()):
                for failure in join.failures:
                    self._store_result(failure, result_ttl)
                for message in join.errbacks:
                    self._add(message.queue, Record.of(message), None, True)
            self._work_may_be_ready.notify_all()
            return True

    def start_flow(self, continuation: Continuation) -> None:
        """Create the chords and send the messages under one hold of the lock."""
        with self._lock:
            self._continue(continuation, DEFAULT_RESULT_TTL)
            self._work_may_be_ready.notify_all()

    def _continue(self, continuation: Continuation, ttl: float) -> None:
        """Chords, sends and results of ``continuation`` (the caller holds the lock)."""
        for spec in continuation.chords:
            callback = self._chords.create(spec, self.now())
            if callback is not None:
                self._add(callback.queue, Record.of(callback), None, True)
        for message, eta in continuation.sends:
            self._add(message.queue, Record.of(message), eta, True)
        for stored in continuation.results:
            self._store_result(stored, ttl)


class MemoryChordIndex(MemoryState, ChordIndex):
    """The open chords of each queue, read from the join records the workflows keep."""

    def list_open_chords(self, queue: str, *, limit: int = 100) -> OpenChords:
        """The newest waiting and failed chords of ``queue`` (see :class:`ChordIndex`)."""
        with self._lock:
            return self._chords.listing(queue, limit, self.now())

    def chord_info(
        self, queue: str, chord_id: str, *, offset: int = 0, limit: int = 100
    ) -> ChordDetail | None:
        """The open chord ``chord_id`` with members ``offset`` .. ``offset + limit - 1``."""
        with self._lock:
            record = self._chords.get(queue, chord_id)
            if record is None:
                return None
            window = range(max(0, offset), min(record.size, max(0, offset) + max(0, limit)))
            return ChordDetail(chord=record.view(), members=[record.member(i) for i in window])

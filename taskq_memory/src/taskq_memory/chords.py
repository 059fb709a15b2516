"""Chord join records of the in-memory backend (the Redis one is ``lua/flow.lua``).

A record is created with its callback and size; members join by index, once each; the last
distinct member sends the callback with every value in index order, and the record is dropped.
The broker calls these under its lock, in the same step as the member's ack or burial.

Each record is also in its callback queue's index
(:mod:`taskq_core.capabilities.chord_index`): ``waiting`` from creation until it completes or
fails, ``failed`` (the newest :data:`~taskq_core.capabilities.chord_index.FAILED_KEPT`) from its
first failure until it completes.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from taskq_core.canvas.effects import CHORD_RESULTS
from taskq_core.capabilities.chord_index import (
    FAILED_KEPT,
    INDEX_RETENTION,
    ChordMember,
    ChordView,
    OpenChords,
)

if TYPE_CHECKING:
    from taskq_core.canvas.effects import ChordJoin, ChordSpec
    from taskq_core.schemas import Message


@dataclass
class ChordRecord:
    """One chord waiting for its members."""

    callback: Message
    size: int
    created_at: float
    members: tuple[str, ...] = ()
    values: dict[int, str] = field(default_factory=dict)
    failed_by: str | None = None
    failed_at: float | None = None

    def view(self) -> ChordView:
        """The record as the chord index shows it."""
        return ChordView(
            id=self.callback.id,
            queue=self.callback.queue,
            task=self.callback.task,
            size=self.size,
            done=len(self.values),
            failed_by=self.failed_by,
            created_at=self.created_at,
            failed_at=self.failed_at,
        )

    def member(self, index: int) -> ChordMember:
        """Member ``index`` with its join status."""
        member_id = self.members[index] if index < len(self.members) else ""
        if index in self.values:
            return ChordMember(index=index, id=member_id, status="done")
        if member_id and member_id == self.failed_by:
            return ChordMember(index=index, id=member_id, status="failed")
        return ChordMember(index=index, id=member_id, status="waiting")


class ChordRecords:
    """Every open chord, by callback id, and each queue's index of them (insertion order)."""

    def __init__(self) -> None:
        self._open: dict[str, ChordRecord] = {}
        self._waiting: dict[str, dict[str, ChordRecord]] = {}
        self._failed: dict[str, dict[str, ChordRecord]] = {}

    def create(self, spec: ChordSpec, now: float) -> Message | None:
        """Open a record for ``spec``; the callback to send now when the chord has no member."""
        if spec.size <= 0:
            return filled(spec.callback, [])
        if spec.callback.id in self._open:
            return None
        record = ChordRecord(spec.callback, spec.size, now, spec.members)
        self._open[spec.callback.id] = record
        self._waiting.setdefault(spec.callback.queue, {})[spec.callback.id] = record
        return None

    def listing(self, queue: str, limit: int, now: float) -> OpenChords:
        """The newest ``limit`` waiting and failed chords of ``queue`` (see the contract)."""
        waiting = self._waiting.get(queue, {})
        # Oldest first (insertion order): entries past the retention leave from the front.
        while waiting:
            oldest = next(iter(waiting.values()))
            if oldest.created_at >= now - INDEX_RETENTION:
                break
            del waiting[oldest.callback.id]
        failed = self._failed.get(queue, {})
        return OpenChords(
            waiting=[r.view() for r in itertools.islice(reversed(waiting.values()), limit)],
            waiting_total=len(waiting),
            failed=[r.view() for r in itertools.islice(reversed(failed.values()), limit)],
        )

    def get(self, queue: str, chord_id: str) -> ChordRecord | None:
        """The open record of ``chord_id`` when its callback is in ``queue``."""
        record = self._open.get(chord_id)
        return record if record is not None and record.callback.queue == queue else None

    def join(self, join: ChordJoin) -> Message | None:
        """Record a member's value; the callback to send when it was the last distinct one."""
        record = self._open.get(join.callback.id)
        if record is None:
            return None
        record.values.setdefault(join.index, join.value)
        if len(record.values) < record.size:
            return None
        self._close(record)
        return filled(record.callback, [record.values[i] for i in range(record.size)])

    def fail(self, join: ChordJoin, now: float) -> bool:
        """Mark the chord failed by ``join``'s member; ``True`` when it is the first failure."""
        record = self._open.get(join.callback.id)
        if record is None or record.failed_by is not None:
            return False
        record.failed_by = join.member_id
        record.failed_at = now
        queue = record.callback.queue
        self._waiting.get(queue, {}).pop(record.callback.id, None)
        failed = self._failed.setdefault(queue, {})
        failed[record.callback.id] = record
        while len(failed) > FAILED_KEPT:
            del failed[next(iter(failed))]
        return True

    def _close(self, record: ChordRecord) -> None:
        """Drop a completed record and its index entries."""
        chord_id, queue = record.callback.id, record.callback.queue
        del self._open[chord_id]
        self._waiting.get(queue, {}).pop(chord_id, None)
        self._failed.get(queue, {}).pop(chord_id, None)


def filled(callback: Message, values: list[str]) -> Message:
    """``callback`` with its :data:`CHORD_RESULTS` first argument replaced by ``values``."""
    if not callback.args or callback.args[0] != CHORD_RESULTS:
        return callback
    results = [json.loads(value) for value in values]
    return callback.model_copy(update={"args": (results, *callback.args[1:])})

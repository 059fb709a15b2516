"""Chord join records of the in-memory backend (the Redis one is ``lua/flow.lua``).

A record is created with its callback and size; members join by index, once each; the last
distinct member sends the callback with every value in index order, and the record is dropped.
The broker calls these under its lock, in the same step as the member's ack or burial.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from taskq_core.canvas.effects import CHORD_RESULTS

if TYPE_CHECKING:
    from taskq_core.canvas.effects import ChordJoin, ChordSpec
    from taskq_core.schemas import Message


@dataclass
class ChordRecord:
    """One chord waiting for its members."""

    callback: Message
    size: int
    values: dict[int, str] = field(default_factory=dict)
    failed_by: str | None = None


class ChordRecords:
    """Every open chord, by callback id."""

    def __init__(self) -> None:
        self._open: dict[str, ChordRecord] = {}

    def create(self, spec: ChordSpec) -> Message | None:
        """Open a record for ``spec``; the callback to send now when the chord has no member."""
        if spec.size <= 0:
            return filled(spec.callback, [])
        self._open.setdefault(spec.callback.id, ChordRecord(spec.callback, spec.size))
        return None

    def join(self, join: ChordJoin) -> Message | None:
        """Record a member's value; the callback to send when it was the last distinct one."""
        record = self._open.get(join.callback.id)
        if record is None:
            return None
        record.values.setdefault(join.index, join.value)
        if len(record.values) < record.size:
            return None
        del self._open[join.callback.id]
        return filled(record.callback, [record.values[i] for i in range(record.size)])

    def fail(self, join: ChordJoin) -> bool:
        """Mark the chord failed by ``join``'s member; ``True`` when it is the first failure."""
        record = self._open.get(join.callback.id)
        if record is None or record.failed_by is not None:
            return False
        record.failed_by = join.member_id
        return True


def filled(callback: Message, values: list[str]) -> Message:
    """``callback`` with its :data:`CHORD_RESULTS` first argument replaced by ``values``."""
    if not callback.args or callback.args[0] != CHORD_RESULTS:
        return callback
    results = [json.loads(value) for value in values]
    return callback.model_copy(update={"args": (results, *callback.args[1:])})

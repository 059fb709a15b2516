"""Open chords per queue: an optional broker capability the dashboard's Workflows page reads.

A chord is open while its join record exists: from ``start_flow`` (or the step that creates it)
until the member that completes it sends the callback. The backend keeps a per-queue index of
them (the queue is the callback's, where the join record lives), maintained in the same atomic
steps that create, complete and fail a chord, so listing needs no scan and no worker events.

A backend offers it by also deriving from :class:`ChordIndex`; callers check with
``isinstance(broker, ChordIndex)`` (there is no default that would hide its absence).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Literal

from pydantic import BaseModel, ConfigDict

from taskq_core.capabilities.base import Capability

#: Seconds an open chord stays in its queue's index. A chord whose members were purged or
#: revoked can never complete; its entry leaves the index after this long instead of forever.
#: The join record itself is kept (a member requeued later still completes the chord).
INDEX_RETENTION = 7 * 24 * 3600.0

#: Failed chords kept per queue, newest first, for the Workflows page (older ones are dropped
#: from the index; their records stay for a requeued member).
FAILED_KEPT = 100

ChordState = Literal["waiting", "failed"]
MemberStatus = Literal["done", "failed", "waiting"]


class ChordView(BaseModel):
    """One open chord as its join record shows it.

    Attributes:
        id: The chord's id: its callback's message id (what ``chord(...).delay()`` returns).
        queue: The callback's queue, which holds the join record.
        task: The callback's task name.
        size: How many members complete the chord.
        done: Members whose result is joined.
        failed_by: The id of the first member that ended in DEAD, if one did.
        created_at: When the join record was created (broker clock).
        failed_at: When the first member failed (broker clock), if one did.
        state: ``waiting`` for members, or ``failed`` (its callback will not run unless the
            failed member is requeued and succeeds).
    """

    model_config = ConfigDict(frozen=True)

    id: str
    queue: str
    task: str
    size: int
    done: int
    failed_by: str | None = None
    created_at: float
    failed_at: float | None = None

    @property
    def state(self) -> ChordState:
        """``failed`` once a member failed the chord, else ``waiting``."""
        return "waiting" if self.failed_by is None else "failed"


class OpenChords(BaseModel):
    """A bounded listing of one queue's open chords.

    Attributes:
        waiting: Chords waiting for members, newest first, at most the asked limit.
        waiting_total: How many chords of the queue wait (within :data:`INDEX_RETENTION`).
        failed: Chords a dead member failed, newest failure first, at most the asked limit.
    """

    model_config = ConfigDict(frozen=True)

    waiting: list[ChordView]
    waiting_total: int
    failed: list[ChordView]


class ChordMember(BaseModel):
    """One member of an open chord: its position, message id and join status."""

    model_config = ConfigDict(frozen=True)

    index: int
    id: str
    status: MemberStatus


class ChordDetail(BaseModel):
    """An open chord with a window of its members.

    Attributes:
        chord: The chord's summary.
        members: Members ``offset`` .. ``offset + limit - 1``, in call order. A member's id is
            empty when the chord was created by a backend version that did not record ids.
    """

    model_config = ConfigDict(frozen=True)

    chord: ChordView
    members: list[ChordMember]


class ChordIndex(Capability):
    """The optional capability: list a queue's open chords, and look one up."""

    offers = "an index of open chords"

    @abstractmethod
    def list_open_chords(self, queue: str, *, limit: int = 100) -> OpenChords:
        """The newest ``limit`` waiting and ``limit`` failed chords whose callback is in ``queue``.

        Bounded whatever the queue holds: one round trip on a networked backend. A chord
        leaves ``waiting`` in the same atomic step as the member ack that sends its callback,
        and moves to ``failed`` in the same step as the burial that fails it (then it leaves
        ``failed`` when a requeued member completes it, or when :data:`FAILED_KEPT` newer
        failures push it out). Entries older than :data:`INDEX_RETENTION` are not listed.
        """

    @abstractmethod
    def chord_info(
        self, queue: str, chord_id: str, *, offset: int = 0, limit: int = 100
    ) -> ChordDetail | None:
        """The open chord ``chord_id`` of ``queue`` with a window of its members, or ``None``.

        ``None`` once the chord completed (its callback's result, if kept, says how it went)
        or when no such chord was created.
        """

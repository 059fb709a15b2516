"""What a workflow step changes in the broker, in the same atomic step as its ack or burial.

A :class:`Continuation` is computed by the worker (or the producer, for a workflow's first
messages) from the step's flow header and its result; the broker applies it with
``ack_and_continue``, ``dead_and_continue`` or ``start_flow`` (the ``Workflows`` capability).
Everything in it is plain data (messages, JSON text), so every backend applies the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from taskq_core.schemas import Message, TaskResult

#: The JSON string a chord callback's first argument holds until the join replaces it with the
#: list of member results (the whole quoted string is replaced, in the payload's text).
CHORD_RESULTS = "__taskq_chord_results__"

#: The quoted form of :data:`CHORD_RESULTS`, as it appears in a payload.
CHORD_RESULTS_JSON = f'"{CHORD_RESULTS}"'


@dataclass(frozen=True)
class ChordSpec:
    """A chord join record to create: ``size`` members, then ``callback`` is sent once.

    Attributes:
        callback: The callback message. When its first argument is :data:`CHORD_RESULTS`,
            the join replaces it with the JSON list of member results in member order.
        size: How many distinct members complete the chord. 0 sends the callback at once.
        members: The members' message ids in call order (the last step of a chain member),
            kept with the join record for monitoring; empty when unknown.
    """

    callback: Message
    size: int
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChordJoin:
    """One member's part in a chord: its result on success, its failure when it dies.

    Attributes:
        callback: The chord's callback message *as created* (its id names the chord and its
            queue holds the join record); only its id, queue, priority and max_deliveries are
            read here.
        index: The member's position, 0-based, in the chord's call order.
        member_id: The member's message id (named in the chord's failure).
        value: On success, the member's result as JSON text.
        failures: On death, results stored only when this is the chord's first failure: the
            FAILURE of the callback id, and of the ids that follow it (a chain callback).
        errbacks: On death, messages sent only when this is the chord's first failure.
    """

    callback: Message
    index: int
    member_id: str
    value: str = "null"
    failures: tuple[TaskResult, ...] = ()
    errbacks: tuple[Message, ...] = ()


@dataclass(frozen=True)
class Continuation:
    """The follow-up of one workflow step.

    Attributes:
        sends: Messages to send, each with an ETA or ``None`` (now); idempotent by id, and a
            message written here also deletes any result stored under its id.
        chords: Chord join records to create, before ``sends`` (whose members join them).
        join: This step's part in a chord, if it is a chord member.
        results: Results stored with the step (the FAILURE of a dead chain's final step).
    """

    sends: tuple[tuple[Message, float | None], ...] = ()
    chords: tuple[ChordSpec, ...] = ()
    join: ChordJoin | None = None
    results: tuple[TaskResult, ...] = field(default=())

    def __bool__(self) -> bool:
        return bool(self.sends or self.chords or self.join or self.results)

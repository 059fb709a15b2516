"""One queue's state machine in plain Python structures, mirroring the Redis key layout.

:class:`MemoryQueue` holds the four states of the contract (READY, SCHEDULED, PROCESSING, DEAD) for
one queue, plus the heartbeats of the workers that consume it. It does no locking and reads no
clock: :class:`~taskq_memory.broker.MemoryBroker` calls it under its one lock and passes ``now``,
so every transition here is atomic from the outside and the rules stay in one place.

Payloads are stored as the JSON text producers wrote, exactly like the Redis backend's payload
hash, so decoding (and the undecodable-payload path) happens at reserve time on both backends.
"""

from __future__ import annotations

import enum
import heapq
import itertools
from collections import OrderedDict, deque
from dataclasses import dataclass

from taskq_core.schemas import MAX_PRIORITY, MIN_PRIORITY


class State(enum.Enum):
    """Where a message id currently is; an acked id has no record at all."""

    READY = "ready"
    SCHEDULED = "scheduled"
    PROCESSING = "processing"
    DEAD = "dead"


@dataclass(slots=True)
class Record:
    """Everything the broker knows about one message id: the payload plus the delivery state.

    The delivery state (counters, owner, lease) lives here and never in the payload, as in the
    Redis ``state`` hash, so a payload is written once and never rewritten.

    Attributes:
        id: The message id.
        payload: The JSON text as sent; decoded only at reserve and when listing DEAD.
        priority: READY level the message waits in (0-9, larger first).
        max_deliveries: Lost leases the message survives before it goes to DEAD.
        state: Current state.
        deliveries: Delivery count; the token of the latest reservation (fencing).
        retries: Exception retries counted by ``retry``.
        losses: Leases lost (recovered by the reaper).
        owner: Worker holding the lease while PROCESSING.
        lease_deadline: When the lease expires while PROCESSING.
        last_error: Error text of the latest retry.
        reason: Why the message is DEAD.
        died_at: When the message went to DEAD.
    """

    id: str
    payload: str
    priority: int
    max_deliveries: int
    state: State = State.READY
    deliveries: int = 0
    retries: int = 0
    losses: int = 0
    owner: str | None = None
    lease_deadline: float = 0.0
    last_error: str | None = None
    reason: str = ""
    died_at: float = 0.0


class MemoryQueue:
    """The READY, SCHEDULED, PROCESSING and DEAD collections of one queue.

    Every method is one transition of the contract's state machine; the caller holds the lock.
    An id is in exactly one collection, and ``records`` knows it, until it is acked or purged.
    """

    def __init__(self) -> None:
        self.records: dict[str, Record] = {}
        # One deque per priority level, index = priority; popleft is the front of READY.
        self._ready: list[deque[str]] = [deque() for _ in range(MAX_PRIORITY + 1)]
        # (eta, sequence, id): the sequence keeps equal ETAs in insertion order.
        self._scheduled: list[tuple[float, int, str]] = []
        self._sequence = itertools.count()
        self._processing: dict[str, Record] = {}
        # Insertion order is death order; the newest is last.
        self._dead: OrderedDict[str, Record] = OrderedDict()
        #: worker id -> last heartbeat, for the workers that consume this queue.
        self.heartbeats: dict[str, float] = {}
        #: Whether a message ever arrived; a queue known only from heartbeats is not listed.
        self.received = False

    # -- entering the queue ----------------------------------------------------------------------

    def add(self, record: Record, *, eta: float | None = None) -> bool:
        """Admit a new id to READY (or SCHEDULED with ``eta``); ``False`` if the id is known."""
        if record.id in self.records:
            return False
        self.received = True
        self.records[record.id] = record
        if eta is None:
            self.to_ready(record)
        else:
            self.to_scheduled(record, eta)
        return True

    # -- transitions -----------------------------------------------------------------------------

    def to_ready(self, record: Record, *, front: bool = False) -> None:
        """Put ``record`` in READY at its priority level: the back, or the front for hand-backs."""
        self._leave_processing(record)
        record.state = State.READY
        level = self._ready[min(max(record.priority, MIN_PRIORITY), MAX_PRIORITY)]
        if front:
            level.appendleft(record.id)
        else:
            level.append(record.id)

    def to_scheduled(self, record: Record, eta: float) -> None:
        """Put ``record`` in SCHEDULED until ``eta``."""
        self._leave_processing(record)
        record.state = State.SCHEDULED
        heapq.heappush(self._scheduled, (eta, next(self._sequence), record.id))

    def to_processing(self, record: Record, *, worker_id: str, deadline: float) -> None:
        """Lease a record just popped from READY to ``worker_id``; counts one delivery."""
        record.state = State.PROCESSING
        record.deliveries += 1
        record.owner = worker_id
        record.lease_deadline = deadline
        self._processing[record.id] = record

    def to_dead(self, record: Record, *, reason: str, now: float) -> None:
        """Bury ``record`` in DEAD with ``reason``; it stays listed until requeued or purged."""
        self._leave_processing(record)
        record.state = State.DEAD
        record.reason = reason
        record.died_at = now
        self._dead[record.id] = record

    def remove(self, record: Record) -> None:
        """Forget a PROCESSING record (ack): the id leaves the broker."""
        self._leave_processing(record)
        del self.records[record.id]

    def _leave_processing(self, record: Record) -> None:
        if record.state is State.PROCESSING:
            del self._processing[record.id]
            record.owner = None

    # -- reading and moving in bulk --------------------------------------------------------------

    def held(self, message_id: str, *, worker_id: str, token: int) -> Record | None:
        """The record if ``worker_id`` still holds the lease with ``token``, else ``None``."""
        record = self._processing.get(message_id)
        if record is None or record.owner != worker_id or record.deliveries != token:
            return None
        return record

    def promote_due(self, now: float, limit: int | None = None) -> int:
        """Move due SCHEDULED records to the back of READY, earliest ETA first; return how many."""
        moved = 0
        while self._scheduled and self._scheduled[0][0] <= now:
            if limit is not None and moved >= limit:
                break
            _, _, message_id = heapq.heappop(self._scheduled)
            self.to_ready(self.records[message_id])
            moved += 1
        return moved

    def next_eta(self) -> float | None:
        """ETA of the earliest SCHEDULED record, if any."""
        return self._scheduled[0][0] if self._scheduled else None

    def pop_ready(self, limit: int) -> list[Record]:
        """Take up to ``limit`` records off READY, highest priority first, FIFO within one."""
        taken: list[Record] = []
        for level in reversed(self._ready):
            while level and len(taken) < limit:
                taken.append(self.records[level.popleft()])
        return taken

    def expired(self, now: float, limit: int) -> list[Record]:
        """Up to ``limit`` PROCESSING records whose lease deadline is at or before ``now``.

        Earliest deadline first, so the longest-lost work is handed back first.
        """
        due = [record for record in self._processing.values() if record.lease_deadline <= now]
        due.sort(key=lambda record: record.lease_deadline)
        return due[:limit]

    def held_by(self, worker_ids: set[str]) -> list[Record]:
        """PROCESSING records whose lease belongs to one of ``worker_ids``."""
        return [record for record in self._processing.values() if record.owner in worker_ids]

    def dead_newest_first(self) -> list[Record]:
        """DEAD records, most recent death first."""
        return list(reversed(self._dead.values()))

    def take_dead(self, ids: list[str] | None) -> list[Record]:
        """Remove DEAD records (all, or those in ``ids``), oldest death first; skip unknown ids."""
        chosen = list(self._dead) if ids is None else [i for i in ids if i in self._dead]
        return [self._dead.pop(message_id) for message_id in dict.fromkeys(chosen)]

    def purge(self) -> int:
        """Delete every READY and SCHEDULED record; return how many."""
        doomed = [message_id for level in self._ready for message_id in level]
        doomed.extend(message_id for _, _, message_id in self._scheduled)
        for level in self._ready:
            level.clear()
        self._scheduled.clear()
        for message_id in doomed:
            del self.records[message_id]
        return len(doomed)

    def purge_dead(self) -> int:
        """Delete every DEAD record; return how many."""
        count = len(self._dead)
        for message_id in self._dead:
            del self.records[message_id]
        self._dead.clear()
        return count

    def count(self, state: State) -> int:
        """How many records are in ``state``."""
        if state is State.READY:
            return sum(len(level) for level in self._ready)
        if state is State.SCHEDULED:
            return len(self._scheduled)
        if state is State.PROCESSING:
            return len(self._processing)
        return len(self._dead)

"""One queue's state machine in plain Python structures, mirroring the Redis key layout.

:class:`MemoryQueue` holds the four states of the contract (READY, SCHEDULED, PROCESSING, DEAD) for
one queue. It does no locking and reads no
clock: :class:`~taskq_memory.broker.MemoryBroker` calls it under its one lock and passes ``now``,
so every transition here is atomic from the outside and the rules stay in one place.

Payloads are stored as the JSON text producers wrote, exactly like the Redis backend's payload
hash, so decoding (and the undecodable-payload path) happens at reserve time on both backends.
"""

from __future__ import annotations

import heapq
import itertools
from collections import OrderedDict, deque
from typing import NamedTuple

from taskq_core.errors import MessageDecodeError
from taskq_core.schemas import (
    MAX_PRIORITY,
    MIN_PRIORITY,
    DeadLetter,
    Delivery,
    EndStatus,
    Message,
    MessageInfo,
    QueueCounts,
    RecoveryReport,
)
from taskq_memory.history import MinuteCounters
from taskq_memory.record import Record, State
from taskq_memory.unique import UniqueHolds

#: Seconds an ack tombstone is kept at least (longer while the acked delivery's lease would
#: still have run): the window in which a repeated ack is recognised as the same ack.
ACK_TOMBSTONE_SECONDS = 10.0


class Reservation(NamedTuple):
    """What one reserve pass on a queue did.

    Attributes:
        deliveries: The messages leased, in READY order.
        undecodable: Records whose payload could not be decoded, just buried in DEAD with the
            decode error as their reason; the broker stores a FAILURE result for each.
        ended: Ids just ended unrun (revoked, or expired before they started) with their
            status; the broker stores a result of that status for each.
    """

    deliveries: list[Delivery]
    undecodable: list[Record]
    ended: list[tuple[str, EndStatus]]


class MemoryQueue:
    """The READY, SCHEDULED, PROCESSING and DEAD collections of one queue.

    Every method is one transition of the contract's state machine; the caller holds the lock.
    An id is in exactly one collection, and ``records`` knows it, until it is acked or purged.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.records: dict[str, Record] = {}
        # One deque per priority level, index = priority; popleft is the front of READY.
        self._ready: list[deque[str]] = [deque() for _ in range(MAX_PRIORITY + 1)]
        # (eta, sequence, id): the sequence keeps equal ETAs in insertion order.
        self._scheduled: list[tuple[float, int, str]] = []
        self._sequence = itertools.count()
        self._processing: dict[str, Record] = {}
        # Insertion order is death order; the newest is last.
        self._dead: OrderedDict[str, Record] = OrderedDict()
        #: Whether a message ever arrived; a queue that was only read from is not listed.
        self.received = False
        #: Most messages PROCESSING may hold at once (``set_queue_limit``); ``None``: no cap.
        self.max_in_flight: int | None = None
        #: Periodic schedule key -> latest claimed tick (``claim_tick``).
        self.ticks: dict[str, float] = {}
        # Ack tombstones, oldest first: id -> (token, worker, kept until), see ``acked_before``.
        self._acked: OrderedDict[str, tuple[int, str, float]] = OrderedDict()
        #: Outcomes per minute (ack, dead, retry, expired, revoked), for ``history``.
        self.history = MinuteCounters()
        #: Unique keys held by messages of the queue (``send_unique``).
        self.unique = UniqueHolds()
        #: Reserve hands out nothing while set (``pause``/``resume``).
        self.paused = False
        #: Messages ended unrun since the queue was created, by status (``counts``).
        self.ended_total: dict[EndStatus, int] = {"EXPIRED": 0, "REVOKED": 0}

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
        record.eta = eta
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
        self._release_unique(record)

    def remove(self, record: Record) -> None:
        """Forget a PROCESSING record (ack): the id leaves the broker."""
        self._leave_processing(record)
        del self.records[record.id]

    def ack(self, record: Record, now: float) -> None:
        """Remove a held ``record`` and leave a tombstone naming the delivery that acked it.

        The tombstone is kept until the lease deadline the delivery had, and at least
        :data:`ACK_TOMBSTONE_SECONDS`, as on Redis (``ack.lua``); expired ones are dropped here.
        """
        keep = max(record.lease_deadline, now + ACK_TOMBSTONE_SECONDS)
        token, worker = record.deliveries, record.owner or ""
        self.remove(record)
        self._release_unique(record)
        while self._acked:
            oldest = next(iter(self._acked.values()))
            if oldest[2] >= now:
                break
            self._acked.popitem(last=False)
        self._acked.pop(record.id, None)
        self._acked[record.id] = (token, worker, keep)

    def end(self, record: Record, status: EndStatus, now: float) -> None:
        """Remove ``record`` unrun (revoked, or expired before it started) and count it."""
        if record.state is State.READY:
            self._ready[min(max(record.priority, MIN_PRIORITY), MAX_PRIORITY)].remove(record.id)
        elif record.state is State.SCHEDULED:
            self._scheduled = [entry for entry in self._scheduled if entry[2] != record.id]
            heapq.heapify(self._scheduled)
        self.remove(record)
        self.ended_total[status] += 1
        self.history.count("revoked" if status == "REVOKED" else "expired", now)

    def acked_before(self, message_id: str, *, worker_id: str, token: int) -> bool:
        """Whether this very delivery already acked ``message_id`` (its ack was repeated)."""
        tombstone = self._acked.get(message_id)
        return tombstone is not None and tombstone[:2] == (token, worker_id)

    def _release_unique(self, record: Record) -> None:
        """The message is done (acked or DEAD): the unique key it holds until done is free."""
        if record.unique_key is not None:
            self.unique.release(record.unique_key, record.id)
            record.unique_key = None

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
        """ETA of the earliest SCHEDULED record a reserve should wake for, if any.

        ``None`` while paused: a due ETA must not make a blocked reserve come straight back.
        """
        return self._scheduled[0][0] if self._scheduled and not self.paused else None

    def pop_ready(self, limit: int) -> list[Record]:
        """Take up to ``limit`` records off READY, highest priority first, FIFO within one."""
        taken: list[Record] = []
        for level in reversed(self._ready):
            while level and len(taken) < limit:
                taken.append(self.records[level.popleft()])
        return taken

    def reserve(self, *, worker_id: str, deadline: float, limit: int, now: float) -> Reservation:
        """Promote due messages, then lease up to ``limit`` READY ones to ``worker_id``.

        A paused queue leases nothing (due messages are still promoted). The in-flight cap
        shrinks the batch to the room left under it. Payloads are decoded here;
        one that cannot be decoded is buried with the decode error and the batch is refilled from
        READY, so a corrupt message never blocks the ones behind it.
        """
        self.promote_due(now)
        reserved = Reservation([], [], [])
        if self.paused:
            return reserved
        limit = self.room(limit)
        while len(reserved.deliveries) < limit and (
            records := self.pop_ready(limit - len(reserved.deliveries))
        ):
            for record in records:
                self.to_processing(record, worker_id=worker_id, deadline=deadline)
                ending = record.end_status(now)
                if ending is not None:
                    self.end(record, ending, now)
                    reserved.ended.append((record.id, ending))
                    continue
                try:
                    message = Message.from_json(record.payload)
                except MessageDecodeError as exc:
                    self.to_dead(record, reason=str(exc), now=now)
                    reserved.undecodable.append(record)
                    continue
                if message.queue != self.name:  # a payload copied across queues: trust where it is
                    message = message.model_copy(update={"queue": self.name})
                reserved.deliveries.append(
                    Delivery(
                        message=message,
                        token=record.deliveries,
                        retries=record.retries,
                        worker_id=worker_id,
                        lease_deadline=deadline,
                        last_error=record.last_error,
                    )
                )
        return reserved

    def room(self, wanted: int) -> int:
        """How many of ``wanted`` more messages PROCESSING may take under the in-flight cap.

        Never negative: messages above a lowered cap are left alone and simply leave no room.
        """
        if self.max_in_flight is None:
            return wanted
        return max(min(wanted, self.max_in_flight - len(self._processing)), 0)

    def recover_expired(self, now: float, limit: int) -> RecoveryReport:
        """Count a lost lease on up to ``limit`` expired records, earliest deadline first.

        Below ``max_deliveries`` losses a record goes to the front of READY (the earliest-expired
        first); at the limit it goes to DEAD with a reason naming the count.
        """
        expired = [r for r in self._processing.values() if r.lease_deadline <= now]
        expired.sort(key=lambda record: record.lease_deadline)
        requeued: list[Record] = []
        buried: list[str] = []
        for record in expired[:limit]:
            record.losses += 1
            if record.losses >= record.max_deliveries:
                reason = (
                    f"lease lost {record.losses} times (max_deliveries={record.max_deliveries}): "
                    "the worker died or stalled each time"
                )
                self.to_dead(record, reason=reason, now=now)
                buried.append(record.id)
            else:
                requeued.append(record)
        for record in reversed(requeued):
            self.to_ready(record, front=True)
        return RecoveryReport(requeued=tuple(r.id for r in requeued), dead=tuple(buried))

    def requeue_dead(self, ids: list[str] | None) -> int:
        """Move DEAD records (all, or those in ``ids``) to the back of READY with fresh counters.

        Retries and lost leases restart from zero, and the last error goes with the retries it
        described; the delivery count is kept, so handles from before the death stay fenced.
        """
        chosen = list(self._dead) if ids is None else [i for i in ids if i in self._dead]
        unique = list(dict.fromkeys(chosen))
        for message_id in unique:
            record = self._dead.pop(message_id)
            record.retries = record.losses = 0
            record.last_error = None
            record.reason = ""
            self.to_ready(record)
        return len(unique)

    def expire_leases(self, worker_ids: set[str], now: float) -> None:
        """End now the leases held by ``worker_ids``, so the next reaper pass counts the loss."""
        for record in self._processing.values():
            if record.owner in worker_ids:
                record.lease_deadline = now

    def list_dead(self, *, offset: int, limit: int) -> list[DeadLetter]:
        """DEAD records, most recent death first, one page of them."""
        newest_first = list(reversed(self._dead.values()))[offset : offset + limit]
        return [record.dead_letter(self.name) for record in newest_first]

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

    def info(self, message_id: str) -> MessageInfo | None:
        """What the queue holds about ``message_id``, or ``None`` if it holds nothing."""
        record = self.records.get(message_id)
        if record is None:
            return None
        letter = record.dead_letter(self.name)
        state = record.state
        return MessageInfo(
            id=record.id,
            queue=self.name,
            state=state.value,
            payload=record.payload,
            message=letter.message,
            deliveries=record.deliveries,
            retries=record.retries,
            lost_leases=record.losses,
            last_error=record.last_error,
            eta=record.eta if state is State.SCHEDULED else None,
            worker_id=record.owner if state is State.PROCESSING else None,
            lease_deadline=record.lease_deadline if state is State.PROCESSING else None,
            reason=record.reason if state is State.DEAD else None,
            died_at=record.died_at if state is State.DEAD else None,
        )

    def counts(self) -> QueueCounts:
        """How many records are in each state."""
        return QueueCounts(
            queue=self.name,
            ready=sum(len(level) for level in self._ready),
            scheduled=len(self._scheduled),
            processing=len(self._processing),
            dead=len(self._dead),
            expired=self.ended_total["EXPIRED"],
            revoked=self.ended_total["REVOKED"],
        )

"""The in-process backend: the whole broker contract in one process, for unit tests and demos.

:class:`MemoryBroker` is the core queue contract (this module) and every capability
(``capabilities.py``, ``flows.py``) over one shared state (``state.py``, which says how the one
lock keeps each method atomic).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from taskq_core.broker import DEFAULT_RESULT_TTL, as_queue_list, outcomes_of
from taskq_core.schemas import (
    DeadLetter,
    Delivery,
    Message,
    QueueCounts,
    RecoveryReport,
    TaskResult,
)
from taskq_memory.capabilities import (
    MemoryAsyncProducing,
    MemoryInspection,
    MemoryPeriodicTicks,
    MemoryQueueControl,
    MemoryRateLimiter,
    MemoryResultStore,
    MemoryRevocation,
    MemoryUniqueSends,
    MemoryWorkerRegistry,
)
from taskq_memory.flows import MemoryChordIndex, MemoryWorkflows
from taskq_memory.queue import MemoryQueue
from taskq_memory.record import Record

if TYPE_CHECKING:
    from collections.abc import Sequence

    from taskq_core.schemas import EndStatus


class MemoryBroker(
    MemoryResultStore,
    MemoryRateLimiter,
    MemoryWorkerRegistry,
    MemoryRevocation,
    MemoryQueueControl,
    MemoryInspection,
    MemoryUniqueSends,
    MemoryPeriodicTicks,
    MemoryWorkflows,
    MemoryChordIndex,
    MemoryAsyncProducing,
):
    """A broker whose queues live in this process's memory; nothing survives the process.

    Args:
        clock: Time source for leases, ETAs and heartbeats; ``None`` means ``time.time()``.
            Pass a :class:`~taskq_core.clock.FakeClock` in tests and move it instead of sleeping.

    Example:
        >>> broker = MemoryBroker.from_url("memory://")
        >>> broker.send(Message(task="add", args=(1, 2)))
        True
    """

    def send(self, message: Message, *, replace_result: bool = False) -> bool:
        """Put ``message`` in READY; ``False`` if its id is already known to the queue."""
        return self._admit(message.queue, Record.of(message), None, replace_result)

    def send_batch(
        self, messages: Sequence[Message], *, replace_result: bool = False
    ) -> list[bool]:
        """Send many messages at once: every one is written, under one hold of the lock."""
        records = [Record.of(message) for message in messages]
        with self._lock:
            written = [
                self._add(message.queue, record, None, replace_result)
                for message, record in zip(messages, records, strict=True)
            ]
            if any(written):
                self._work_may_be_ready.notify_all()
        return written

    def schedule(self, message: Message, *, eta: float, replace_result: bool = False) -> bool:
        """Put ``message`` in SCHEDULED until ``eta``; same idempotency as :meth:`send`."""
        return self._admit(message.queue, Record.of(message), eta, replace_result)

    def poll_schedule(self, queue: str, *, limit: int = 1000) -> int:
        """Move up to ``limit`` due SCHEDULED messages to READY, earliest ETA first."""
        with self._lock:
            moved = self._queue(queue).promote_due(self.now(), limit)
            if moved:
                self._work_may_be_ready.notify_all()
            return moved

    def next_eta(self, queue: str) -> float | None:
        """The earliest ETA among ``queue``'s SCHEDULED messages."""
        with self._lock:
            return self._next_eta(queue)

    def reserve(
        self,
        queues: Sequence[str],
        *,
        worker_id: str,
        lease: float,
        limit: int = 1,
        timeout: float = 0.0,
    ) -> list[Delivery]:
        """Lease up to ``limit`` messages from the first of ``queues`` that has any.

        Blocks on the condition (real time, up to ``timeout``) while nothing is ready; wakes on
        every change that can make work ready and on :meth:`interrupt`.
        """
        if limit < 1:
            raise ValueError(f"reserve limit must be at least 1, got {limit}")
        names = as_queue_list(queues)
        give_up_at = time.monotonic() + max(timeout, 0.0)
        with self._lock:
            generation = self._interrupts
            while True:
                deliveries = self._reserve_now(names, worker_id, lease, limit)
                remaining = give_up_at - time.monotonic()
                if deliveries or remaining <= 0 or self._interrupts != generation:
                    return deliveries
                self._work_may_be_ready.wait(self._wait_time(names, remaining))

    def _reserve_now(
        self, names: list[str], worker_id: str, lease: float, limit: int
    ) -> list[Delivery]:
        now = self.now()
        for name in names:
            queue = self._queues.get(name)
            if queue is None:
                continue
            reserved = queue.reserve(
                worker_id=worker_id, deadline=now + lease, limit=limit, now=now
            )
            for record in reserved.undecodable:
                # A caller waiting on this id learns it failed instead of waiting forever.
                failure = TaskResult(
                    id=record.id,
                    status="FAILURE",
                    error_type="MessageDecodeError",
                    error_message=record.reason,
                    finished_at=now,
                )
                self._results.put(failure, expires_at=now + DEFAULT_RESULT_TTL, now=now)
            for message_id, status in reserved.ended:
                ended = TaskResult(id=message_id, status=status, finished_at=now)
                self._results.put(ended, expires_at=now + DEFAULT_RESULT_TTL, now=now)
            if reserved.ended:
                self._made_room(queue)
            if reserved.deliveries:
                return reserved.deliveries
        return []

    def _wait_time(self, names: list[str], remaining: float) -> float:
        """How long a blocked reserve may sleep: until the timeout, or the next real-time ETA."""
        if self.clock is not None:
            return remaining  # a fake ETA says nothing about real time; advancing wakes nobody
        etas = [eta for name in names if (eta := self._next_eta(name)) is not None]
        return min([remaining, *(max(eta - self.now(), 0.0) for eta in etas)])

    def _next_eta(self, name: str) -> float | None:
        queue = self._queues.get(name)
        return queue.next_eta() if queue is not None else None

    def ack(
        self,
        delivery: Delivery,
        *,
        result: TaskResult | None = None,
        result_ttl: float = DEFAULT_RESULT_TTL,
    ) -> bool:
        """Store ``result`` if given, then remove the message for good; ``False`` if fenced."""
        with self._lock:
            return self._ack(delivery, result, result_ttl)

    def ack_many(
        self,
        deliveries: Sequence[Delivery],
        *,
        results: Sequence[TaskResult | None] | None = None,
        result_ttl: float | Sequence[float] = DEFAULT_RESULT_TTL,
    ) -> list[bool]:
        """Ack each delivery in turn under one hold of the lock; each fenced on its own."""
        outcomes = outcomes_of(deliveries, results, result_ttl)
        with self._lock:
            return [
                self._ack(held, *(outcome or (None, DEFAULT_RESULT_TTL)))
                for held, outcome in zip(deliveries, outcomes, strict=True)
            ]

    def retry(self, delivery: Delivery, *, delay: float, error: str | None = None) -> bool:
        """Count a retry and keep ``error``; back to READY, or SCHEDULED at ``now + delay``."""
        with self._lock:
            queue, record = self._held(delivery)
            if record is None:
                return False
            record.retries += 1
            record.last_error = error
            queue.history.count("retried", self.now())
            self._put_back(queue, record, delay)
            return True

    def postpone(self, delivery: Delivery, *, delay: float) -> bool:
        """Put the message back counting nothing: the back of READY, or SCHEDULED. Fenced.

        With ``delay <= 0`` it goes to the back of its priority level, like a retry: the task
        did not run, and putting it in front would hand it straight back to a rate limit.
        """
        with self._lock:
            queue, record = self._held(delivery)
            if record is None:
                return False
            self._put_back(queue, record, delay)
            return True

    def _put_back(self, queue: MemoryQueue, record: Record, delay: float) -> None:
        """Return a held record to the back of READY, or to SCHEDULED ``delay`` s from now."""
        if delay > 0:
            queue.to_scheduled(record, self.now() + delay)
        else:
            queue.to_ready(record)
        self._work_may_be_ready.notify_all()

    def dead(
        self,
        delivery: Delivery,
        *,
        reason: str,
        result: TaskResult | None = None,
        result_ttl: float = DEFAULT_RESULT_TTL,
    ) -> bool:
        """Store ``result`` if given, then move the message to DEAD with ``reason``. Fenced."""
        with self._lock:
            return self._bury(delivery, reason, result, result_ttl)

    def end(
        self, delivery: Delivery, *, status: EndStatus, result_ttl: float = DEFAULT_RESULT_TTL
    ) -> bool:
        """Store a ``status`` result and remove the held message unrun, counted. Fenced."""
        result = TaskResult(id=delivery.id, status=status, finished_at=self.now())
        with self._lock:
            queue, record = self._held_after_storing(delivery, result, result_ttl)
            if record is None:
                return False
            queue.end(record, status, self.now())
            self._made_room(queue)
            return True

    def extend_lease(self, deliveries: Sequence[Delivery], *, lease: float) -> list[bool]:
        """Push each still-held lease to ``now + lease``; ``False`` for the lost ones."""
        with self._lock:
            deadline = self.now() + lease
            extended: list[bool] = []
            for delivery in deliveries:
                _, record = self._held(delivery)
                if record is not None:
                    record.lease_deadline = deadline
                extended.append(record is not None)
            return extended

    def release(self, deliveries: Sequence[Delivery]) -> int:
        """Put held deliveries back at the front of READY, in the order given; skip lost ones."""
        with self._lock:
            # Keyed by queue and id, so a delivery listed twice is released once.
            held: dict[tuple[str, str], tuple[MemoryQueue, Record]] = {}
            for delivery in deliveries:
                queue, record = self._held(delivery)
                if record is not None:
                    held.setdefault((delivery.queue, delivery.id), (queue, record))
            # Front-inserting in reverse keeps the released batch in its original order.
            for queue, record in reversed(held.values()):
                queue.to_ready(record, front=True)
            if held:
                self._work_may_be_ready.notify_all()
            return len(held)

    def recover_expired(self, queue: str, *, limit: int = 1000) -> RecoveryReport:
        """Hand back expired leases: front of READY, or DEAD at ``max_deliveries`` losses."""
        with self._lock:
            state = self._queue(queue)
            report = state.recover_expired(self.now(), limit)
            if report.requeued:
                self._work_may_be_ready.notify_all()
            elif report:
                self._made_room(state)
            return report

    def queues(self) -> list[str]:
        """Every queue that ever received a message, sorted."""
        with self._lock:
            return sorted(name for name, state in self._queues.items() if state.received)

    def counts(self, queue: str) -> QueueCounts:
        """Messages of ``queue`` per state."""
        with self._lock:
            state = self._queues.get(queue)
            return state.counts() if state is not None else QueueCounts(queue=queue)

    def list_dead(self, queue: str, *, offset: int = 0, limit: int = 100) -> list[DeadLetter]:
        """DEAD messages, most recent first; ``message`` is ``None`` when undecodable."""
        with self._lock:
            state = self._queues.get(queue)
            return state.list_dead(offset=offset, limit=limit) if state is not None else []

    def requeue_dead(self, queue: str, ids: Sequence[str] | None = None) -> int:
        """Move DEAD messages to the back of READY; retries, losses and last error are reset.

        The delivery count is kept, so the next token is new and older handles stay fenced.
        """
        with self._lock:
            state = self._queues.get(queue)
            moved = state.requeue_dead(None if ids is None else list(ids)) if state else 0
            if moved:
                self._work_may_be_ready.notify_all()
            return moved

    def purge(self, queue: str) -> int:
        """Delete READY and SCHEDULED messages; PROCESSING belongs to running workers."""
        with self._lock:
            state = self._queues.get(queue)
            return state.purge() if state is not None else 0

    def purge_dead(self, queue: str) -> int:
        """Delete DEAD messages."""
        with self._lock:
            state = self._queues.get(queue)
            return state.purge_dead() if state is not None else 0

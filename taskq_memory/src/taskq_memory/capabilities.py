"""The in-process backend's capabilities beside the queue, one mixin each over the shared state."""

from __future__ import annotations

import collections
import time
from typing import TYPE_CHECKING

from taskq_core.broker import DEFAULT_RESULT_TTL, as_queue_list
from taskq_core.capabilities import (
    AsyncProducing,
    Inspection,
    PeriodicTicks,
    QueueControl,
    RateLimiter,
    ResultStore,
    Revocation,
    UniqueSends,
    WorkerRegistry,
)
from taskq_core.schemas import TaskResult
from taskq_memory.history import MinuteCounters
from taskq_memory.record import Record, State
from taskq_memory.state import MemoryState

if TYPE_CHECKING:
    from collections.abc import Sequence

    from taskq_core.capabilities import RevokeOutcome
    from taskq_core.progress import TaskState
    from taskq_core.schemas import Message, MessageInfo, MinuteCounts, WorkerInfo
    from taskq_core.unique import UniqueClaim
    from taskq_memory.aio import MemoryAsyncProducer


class MemoryResultStore(MemoryState, ResultStore):
    """Task results and task states, waited for on a condition."""

    def store_result(self, result: TaskResult, *, ttl: float = DEFAULT_RESULT_TTL) -> None:
        """Keep ``result`` for ``ttl`` seconds of broker time; wake everyone waiting for it."""
        with self._lock:
            self._store_result(result, ttl)

    def get_result(self, message_id: str, *, timeout: float | None = 0.0) -> TaskResult | None:
        """The result of ``message_id``, waiting up to ``timeout`` real seconds (``None``: ever)."""
        with self._lock:
            return self._results.wait(message_id, timeout=timeout, now=self.now)

    def forget_result(self, message_id: str) -> None:
        """Delete the result of ``message_id``, if any."""
        with self._lock:
            self._results.forget(message_id)

    def set_task_state(self, state: TaskState, *, ttl: float = DEFAULT_RESULT_TTL) -> None:
        """Keep ``state`` until ``now + ttl`` on the broker's clock; the latest write wins."""
        with self._lock:
            self._task_states[state.id] = (state, self.now() + ttl)

    def get_task_state(self, message_id: str) -> TaskState | None:
        """The latest state of ``message_id`` until it expires."""
        with self._lock:
            kept = self._task_states.get(message_id)
            if kept is None:
                return None
            if kept[1] <= self.now():
                del self._task_states[message_id]
                return None
            return kept[0]


class MemoryRateLimiter(MemoryState, RateLimiter):
    """Sliding-window grants on the broker's clock."""

    def acquire_rate_limit(self, key: str, *, limit: int, period: float) -> float:
        """Take a grant of ``key`` (``0.0``) or get the seconds until one fits; broker time."""
        with self._lock:
            return self._grants.acquire(key, limit=limit, period=period, now=self.now())


class MemoryWorkerRegistry(MemoryState, WorkerRegistry):
    """Heartbeats, and the leases of silent workers expired."""

    def send_heartbeat(self, worker: WorkerInfo) -> None:
        """Record ``worker`` as alive now, overall and in each of its queues."""
        with self._lock:
            self._heartbeats.beat(worker, self.now())

    def list_alive_workers(self, *, within: float, queue: str | None = None) -> list[WorkerInfo]:
        """Workers heard from within ``within`` seconds, sorted by id, ``last_seen`` filled."""
        with self._lock:
            return self._heartbeats.alive(now=self.now(), within=within, queue=queue)

    def forget_worker(self, worker: WorkerInfo) -> None:
        """Drop every liveness record of ``worker``."""
        with self._lock:
            self._heartbeats.forget(worker.worker_id)

    def expire_dead_workers(
        self, queue: str, *, within: float, reaper: str | None = None
    ) -> list[str]:
        """Remove workers of ``queue`` silent for over ``within`` s; expire the leases they hold.

        With a ``reaper``, only once it watched the whole silence (see the contract).
        """
        with self._lock:
            now = self.now()
            silent = self._heartbeats.expire(queue, now=now, within=within, reaper=reaper)
            state = self._queues.get(queue)
            if state is not None:
                state.expire_leases(set(silent), now)
            return silent


class MemoryRevocation(MemoryState, Revocation):
    """Revoked messages ended or marked; termination requests per worker."""

    def revoke(
        self,
        queue: str,
        message_id: str,
        *,
        terminate: bool = False,
        result_ttl: float = DEFAULT_RESULT_TTL,
    ) -> RevokeOutcome:
        """READY/SCHEDULED: removed, result REVOKED; PROCESSING: marked (and told to stop)."""
        with self._lock:
            state = self._queues.get(queue)
            record = state.records.get(message_id) if state is not None else None
            if state is None or record is None or record.state is State.DEAD:
                return "absent"
            if record.state is State.PROCESSING:
                record.revoked = True
                if terminate and record.owner is not None:
                    asked = self._terminations.setdefault(record.owner, collections.deque())
                    asked.append((queue, message_id))
                    self._termination_asked.notify_all()
                return "running"
            now = self.now()
            state.end(record, "REVOKED", now)
            self._store_result(
                TaskResult(id=message_id, status="REVOKED", finished_at=now), result_ttl
            )
            return "revoked"

    def wait_terminations(
        self, worker_id: str, queues: Sequence[str], *, timeout: float
    ) -> list[str]:
        """Termination requests for ``worker_id`` in ``queues``, waiting on a condition."""
        names = set(as_queue_list(queues))
        give_up_at = time.monotonic() + max(timeout, 0.0)
        with self._lock:
            while True:
                asked = self._terminations.get(worker_id, collections.deque())
                mine = [(q, i) for q, i in asked if q in names]
                if mine:
                    for entry in mine:
                        asked.remove(entry)
                    return [message_id for _, message_id in mine]
                remaining = give_up_at - time.monotonic()
                if remaining <= 0:
                    return []
                self._termination_asked.wait(remaining)


class MemoryQueueControl(MemoryState, QueueControl):
    """Pause flags and in-flight caps, read inside the reserve."""

    def pause(self, queue: str) -> bool:
        """Set the queue's pause flag; its reserves hand out nothing until :meth:`resume`."""
        with self._lock:
            state = self._queue(queue)
            changed, state.paused = not state.paused, True
            return changed

    def resume(self, queue: str) -> bool:
        """Clear the pause flag and wake blocked reserves."""
        with self._lock:
            state = self._queue(queue)
            changed, state.paused = state.paused, False
            self._work_may_be_ready.notify_all()
            return changed

    def paused(self, queue: str) -> bool:
        """Whether the queue's pause flag is set."""
        with self._lock:
            state = self._queues.get(queue)
            return state is not None and state.paused

    def set_queue_limit(self, queue: str, *, max_in_flight: int | None) -> None:
        """Cap PROCESSING of ``queue`` at ``max_in_flight`` messages; ``None`` removes the cap.

        Raises:
            ValueError: ``max_in_flight`` below 1.
        """
        if max_in_flight is not None and max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1 or None, got {max_in_flight}")
        with self._lock:
            self._queue(queue).max_in_flight = max_in_flight
            # A raised or removed cap may make room for reserves already waiting.
            self._work_may_be_ready.notify_all()


class MemoryInspection(MemoryState, Inspection):
    """Outcomes per minute and one message's record."""

    def history(self, queue: str, *, minutes: int = 60) -> list[MinuteCounts]:
        """Outcomes per minute of the broker's clock, oldest first, zero-filled."""
        with self._lock:
            state = self._queues.get(queue)
            counters = state.history if state is not None else MinuteCounters()
            return counters.window(self.now(), minutes)

    def message_info(self, queue: str, message_id: str) -> MessageInfo | None:
        """What ``queue`` holds about ``message_id``, or ``None``."""
        with self._lock:
            state = self._queues.get(queue)
            return state.info(message_id) if state is not None else None


class MemoryUniqueSends(MemoryState, UniqueSends):
    """A unique key claimed and its message written under one hold of the lock."""

    def send_unique(
        self,
        message: Message,
        claim: UniqueClaim,
        *,
        eta: float | None = None,
        replace_result: bool = False,
    ) -> str:
        """Claim ``claim.key`` and write ``message`` under one hold of the lock."""
        record = Record.of(message)
        with self._lock:
            queue = self._queue(message.queue)
            now = self.now()
            holder = queue.unique.holder(claim.key, now)
            if holder is not None:
                return holder
            if self._add(message.queue, record, eta, replace_result):
                queue.unique.claim(claim.key, message.id, now=now, until=now + claim.ttl)
                if claim.until == "done":
                    record.unique_key = claim.key
                self._work_may_be_ready.notify_all()
            return message.id


class MemoryPeriodicTicks(MemoryState, PeriodicTicks):
    """The latest claimed tick per schedule, kept with its queue."""

    def claim_tick(self, message: Message, *, schedule: str, tick: float) -> bool:
        """Claim ``tick`` of ``schedule`` and put ``message`` in READY, under one lock."""
        with self._lock:
            queue = self._queue(message.queue)
            last = queue.ticks.get(schedule)
            if last is not None and last >= tick:
                return False
            queue.ticks[schedule] = tick
            added = queue.add(Record.of(message))
            if added:
                self._work_may_be_ready.notify_all()
            return added

    def last_tick(self, queue: str, schedule: str) -> float | None:
        """The latest claimed tick of ``schedule`` in ``queue``."""
        with self._lock:
            state = self._queues.get(queue)
            return None if state is None else state.ticks.get(schedule)


class MemoryAsyncProducing(MemoryState, AsyncProducing):
    """The asyncio producer over these queues and results (``aio.py``)."""

    def async_producer(self) -> MemoryAsyncProducer:
        """These sends and results for asyncio; waits await events, no thread (``aio.py``)."""
        return self._async_producer

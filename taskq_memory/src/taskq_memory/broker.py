"""The in-process backend: the full broker contract in one process, for unit tests and demos.

Users run their unit tests on this backend, so it keeps the Redis backend's semantics in every
corner: payloads are stored as JSON text and decoded at reserve (an undecodable one goes to DEAD),
fencing tokens, lease recovery with a lost-lease limit, priorities and idempotent sends.

Concurrency: one :class:`threading.Lock` guards every queue, result and rate limit, so each
method is one atomic transition. A :class:`threading.Condition` on that lock lets
``reserve(timeout=...)`` sleep until something may have become ready (a send, retry, postpone,
release, recovery, requeue or promotion, or room made under a queue's in-flight cap) instead of
polling; another lets ``get_result`` sleep until a result is stored. Blocking uses real time even
under a fake clock: moving a :class:`~taskq_core.clock.FakeClock` wakes nobody, so tests drive
reserves with ``timeout=0``. Result lifetimes and rate-limit windows run on the broker's clock.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import TYPE_CHECKING, Self
from urllib.parse import SplitResult, urlsplit

from taskq_core.broker import DEFAULT_RESULT_TTL, BaseBroker, as_queue_list, outcomes_of
from taskq_core.capabilities import (
    AsyncProducing,
    Inspection,
    PeriodicTicks,
    QueueControl,
    RateLimiter,
    ResultStore,
    Revocation,
    RevokeOutcome,
    UniqueSends,
    WorkerRegistry,
    Workflows,
)
from taskq_core.clock import Clock
from taskq_core.errors import ConfigurationError
from taskq_core.schemas import (
    DeadLetter,
    Delivery,
    Message,
    MessageInfo,
    MinuteCounts,
    QueueCounts,
    RecoveryReport,
    TaskResult,
    WorkerInfo,
    check_queue_name,
)
from taskq_core.urls import redact_url
from taskq_memory.aio import MemoryAsyncProducer
from taskq_memory.chords import ChordRecords
from taskq_memory.history import MinuteCounters
from taskq_memory.liveness import Heartbeats
from taskq_memory.queue import MemoryQueue, Record, State
from taskq_memory.rate_limits import GrantLogs
from taskq_memory.results import ResultRecords

if TYPE_CHECKING:
    from collections.abc import Sequence

    from taskq_core.canvas.effects import Continuation
    from taskq_core.progress import TaskState
    from taskq_core.schemas import EndStatus
    from taskq_core.unique import UniqueClaim

#: ``max_deliveries`` of a message whose payload cannot be read (it dies at reserve anyway).
_DEFAULT_MAX_DELIVERIES: int = Message.model_fields["max_deliveries"].default


class MemoryBroker(
    BaseBroker,
    ResultStore,
    RateLimiter,
    WorkerRegistry,
    Revocation,
    QueueControl,
    Inspection,
    UniqueSends,
    PeriodicTicks,
    Workflows,
    AsyncProducing,
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

    scheme = "memory"
    cross_process = False

    def __init__(self, *, clock: Clock | None = None) -> None:
        super().__init__(clock=clock)
        self._lock = threading.Lock()
        self._work_may_be_ready = threading.Condition(self._lock)
        self._queues: dict[str, MemoryQueue] = {}
        self._heartbeats = Heartbeats()
        self._results = ResultRecords(self._lock)
        self._async_producer = MemoryAsyncProducer(self, self._results, self._lock)
        self._grants = GrantLogs()
        self._chords = ChordRecords()
        self._task_states: dict[str, tuple[TaskState, float]] = {}
        # Bumped by interrupt(): a blocked reserve returns when it sees a new generation.
        self._interrupts = 0
        # Worker id -> (queue, message id) termination requests not yet answered.
        self._terminations: dict[str, collections.deque[tuple[str, str]]] = {}
        self._termination_asked = threading.Condition(self._lock)

    @classmethod
    def from_url(cls, url: str, **options: object) -> Self:
        """Build a broker from ``memory://``; the only option is ``clock``.

        Raises:
            ConfigurationError: the URL is not exactly ``memory://`` or an option is unknown.
        """
        try:
            parts: SplitResult | None = urlsplit(url)
        except ValueError:  # "Invalid IPv6 URL"
            parts = None
        if (
            parts is None
            or parts.scheme.lower() != cls.scheme
            or parts.netloc
            or parts.path not in ("", "/")
            or parts.query
            or parts.fragment
        ):
            raise ConfigurationError(
                f"memory broker URL must be 'memory://', got {redact_url(url)!r}"
            )
        clock = options.pop("clock", None)
        if options:
            raise ConfigurationError(
                f"unknown memory broker option(s): {', '.join(sorted(options))}; only 'clock'"
            )
        if clock is not None and not isinstance(clock, Clock):
            raise ConfigurationError(f"clock must have a now() method, got {clock!r}")
        return cls(clock=clock)

    def close(self) -> None:
        """Wake blocked reserves; the queues stay readable, as nothing needs releasing."""
        self.interrupt()

    def interrupt(self) -> None:
        """Make every ``reserve`` blocked right now return promptly, possibly empty."""
        with self._lock:
            self._interrupts += 1
            self._work_may_be_ready.notify_all()

    def now(self) -> float:
        """``clock.now()`` if a clock was given, else this process's wall clock."""
        return self.clock.now() if self.clock is not None else time.time()

    def async_producer(self) -> MemoryAsyncProducer:
        """These sends and results for asyncio; waits await events, no thread (``aio.py``)."""
        return self._async_producer

    def inject_raw(self, queue: str, message_id: str, raw: str, *, priority: int = 0) -> bool:
        """Test back door: put ``raw`` text in READY as if a producer had written it.

        For tests of the undecodable-payload path (the conformance suite's
        ``inject_raw_payload`` fixture): ``raw`` need not be a valid message, and it is decoded
        only when reserved, like bytes a foreign producer left in Redis. Same idempotency as
        :meth:`send`.
        """
        check_queue_name(queue)
        record = Record(message_id, raw, priority, _DEFAULT_MAX_DELIVERIES)
        return self._admit(queue, record, None)

    # -- producing -------------------------------------------------------------------------------

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

    def _admit(
        self, queue: str, record: Record, eta: float | None, replace_result: bool = False
    ) -> bool:
        with self._lock:
            added = self._add(queue, record, eta, replace_result)
            if added:
                self._work_may_be_ready.notify_all()
            return added

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

    def _add(self, queue: str, record: Record, eta: float | None, replace_result: bool) -> bool:
        """Add ``record`` (lock held); a written record with ``replace_result`` drops its result."""
        added = self._queue(queue).add(record, eta=eta)
        if added and replace_result:
            self._results.forget(record.id)
        return added

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

    # -- consuming -------------------------------------------------------------------------------

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

    def _take_acked(self, queue: MemoryQueue, record: Record) -> None:
        """A held record leaves acked: counted in the history, its room given back (lock held)."""
        now = self.now()
        queue.ack(record, now)
        queue.history.count("succeeded", now)
        self._made_room(queue)

    def _take_dead(self, queue: MemoryQueue, record: Record, reason: str) -> None:
        """A held record goes to DEAD: counted in the history, its room given back (lock held)."""
        now = self.now()
        queue.to_dead(record, reason=reason, now=now)
        queue.history.count("failed", now)
        self._made_room(queue)

    def _ack(self, delivery: Delivery, result: TaskResult | None, ttl: float) -> bool:
        """Fenced ack; a delivery that already acked its message answers ``True`` again."""
        queue, record = self._held_after_storing(delivery, result, ttl)
        if record is None:
            return queue.acked_before(
                delivery.id, worker_id=delivery.worker_id, token=delivery.token
            )
        self._take_acked(queue, record)
        return True

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
        queue, record = self._held_after_storing(delivery, result, result_ttl)
        if record is None:
            return queue.acked_before(
                delivery.id, worker_id=delivery.worker_id, token=delivery.token
            )
        self._take_acked(queue, record)
        self._continue(continuation, result_ttl)
        if continuation.join is not None:
            callback = self._chords.join(continuation.join)
            if callback is not None:
                self._add(callback.queue, Record.of(callback), None, True)
        self._work_may_be_ready.notify_all()
        return True

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
            queue, record = self._held_after_storing(delivery, result, result_ttl)
            if record is None:
                return False
            self._take_dead(queue, record, reason)
            self._continue(continuation, result_ttl)
            join = continuation.join
            if join is not None and self._chords.fail(join):
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
            callback = self._chords.create(spec)
            if callback is not None:
                self._add(callback.queue, Record.of(callback), None, True)
        for message, eta in continuation.sends:
            self._add(message.queue, Record.of(message), eta, True)
        for stored in continuation.results:
            self._store_result(stored, ttl)

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
            queue, record = self._held_after_storing(delivery, result, result_ttl)
            if record is None:
                return False
            self._take_dead(queue, record, reason)
            return True

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

    def _made_room(self, queue: MemoryQueue) -> None:
        """A message left PROCESSING for good: wake reserves waiting under the queue's cap."""
        if queue.max_in_flight is not None:
            self._work_may_be_ready.notify_all()

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

    def _held_after_storing(
        self, delivery: Delivery, result: TaskResult | None, ttl: float
    ) -> tuple[MemoryQueue, Record | None]:
        """Store ``result`` (if any), then check the fence: the task did produce it either way."""
        if result is not None:
            self._store_result(result, ttl)
        return self._held(delivery)

    def _held(self, delivery: Delivery) -> tuple[MemoryQueue, Record | None]:
        queue = self._queue(delivery.queue)
        record = queue.held(delivery.id, worker_id=delivery.worker_id, token=delivery.token)
        return queue, record

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

    # -- control: revoke and expiry ----------------------------------------------------------------

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

    # -- workers ---------------------------------------------------------------------------------

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

    # -- monitoring and admin --------------------------------------------------------------------

    def queues(self) -> list[str]:
        """Every queue that ever received a message, sorted."""
        with self._lock:
            return sorted(name for name, state in self._queues.items() if state.received)

    def counts(self, queue: str) -> QueueCounts:
        """Messages of ``queue`` per state."""
        with self._lock:
            state = self._queues.get(queue)
            return state.counts() if state is not None else QueueCounts(queue=queue)

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

    # -- results ---------------------------------------------------------------------------------

    def store_result(self, result: TaskResult, *, ttl: float = DEFAULT_RESULT_TTL) -> None:
        """Keep ``result`` for ``ttl`` seconds of broker time; wake everyone waiting for it."""
        with self._lock:
            self._store_result(result, ttl)

    def _store_result(self, result: TaskResult, ttl: float) -> None:
        now = self.now()
        self._results.put(result, expires_at=now + ttl, now=now)

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

    # -- rate limits -----------------------------------------------------------------------------

    def acquire_rate_limit(self, key: str, *, limit: int, period: float) -> float:
        """Take a grant of ``key`` (``0.0``) or get the seconds until one fits; broker time."""
        with self._lock:
            return self._grants.acquire(key, limit=limit, period=period, now=self.now())

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

    def _queue(self, name: str) -> MemoryQueue:
        """The queue called ``name``, created empty on first use (caller holds the lock)."""
        state = self._queues.get(name)
        if state is None:
            state = self._queues[name] = MemoryQueue(name)
        return state

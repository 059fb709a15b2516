"""The in-process backend's shared state: one lock over every queue, result and record.

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

:class:`MemoryState` holds that state, the lifecycle and the lock-held steps the core
(``broker.py``) and the capabilities (``capabilities.py``, ``flows.py``) share.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import TYPE_CHECKING, Self, cast
from urllib.parse import SplitResult, urlsplit

from taskq_core.broker import BaseBroker
from taskq_core.clock import Clock
from taskq_core.errors import ConfigurationError
from taskq_core.schemas import Delivery, Message, TaskResult, check_queue_name
from taskq_core.urls import redact_url
from taskq_memory.aio import MemoryAsyncProducer
from taskq_memory.chords import ChordRecords
from taskq_memory.liveness import Heartbeats
from taskq_memory.queue import MemoryQueue
from taskq_memory.rate_limits import GrantLogs
from taskq_memory.record import Record
from taskq_memory.results import ResultRecords

if TYPE_CHECKING:
    from collections.abc import Callable

    from taskq_core.progress import TaskState
    from taskq_memory.broker import MemoryBroker

#: ``max_deliveries`` of a message whose payload cannot be read (it dies at reserve anyway).
_DEFAULT_MAX_DELIVERIES: int = Message.model_fields["max_deliveries"].default


class MemoryState(BaseBroker):
    """What every part of the in-process broker shares; see the module docstring."""

    scheme = "memory"
    cross_process = False

    def __init__(self, *, clock: Clock | None = None) -> None:
        super().__init__(clock=clock)
        self._lock = threading.Lock()
        self._work_may_be_ready = threading.Condition(self._lock)
        self._queues: dict[str, MemoryQueue] = {}
        self._heartbeats = Heartbeats()
        self._results = ResultRecords(self._lock)
        whole = cast("MemoryBroker", self)  # the state is always part of a whole MemoryBroker
        self._async_producer = MemoryAsyncProducer(whole, self._results, self._lock)
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

    def _admit(
        self, queue: str, record: Record, eta: float | None, replace_result: bool = False
    ) -> bool:
        with self._lock:
            added = self._add(queue, record, eta, replace_result)
            if added:
                self._work_may_be_ready.notify_all()
            return added

    def _queue(self, name: str) -> MemoryQueue:
        """The queue called ``name``, created empty on first use (caller holds the lock)."""
        state = self._queues.get(name)
        if state is None:
            state = self._queues[name] = MemoryQueue(name)
        return state

    def _add(self, queue: str, record: Record, eta: float | None, replace_result: bool) -> bool:
        """Add ``record`` (lock held); a written record with ``replace_result`` drops its result."""
        added = self._queue(queue).add(record, eta=eta)
        if added and replace_result:
            self._results.forget(record.id)
        return added

    def _held(self, delivery: Delivery) -> tuple[MemoryQueue, Record | None]:
        queue = self._queue(delivery.queue)
        record = queue.held(delivery.id, worker_id=delivery.worker_id, token=delivery.token)
        return queue, record

    def _held_after_storing(
        self, delivery: Delivery, result: TaskResult | None, ttl: float
    ) -> tuple[MemoryQueue, Record | None]:
        """Store ``result`` (if any), then check the fence: the task did produce it either way."""
        if result is not None:
            self._store_result(result, ttl)
        return self._held(delivery)

    def _store_result(self, result: TaskResult, ttl: float) -> None:
        now = self.now()
        self._results.put(result, expires_at=now + ttl, now=now)

    def _take_acked(self, queue: MemoryQueue, record: Record) -> None:
        """A held record leaves acked: counted in the history, its room given back (lock held)."""
        now = self.now()
        queue.ack(record, now)
        queue.history.count("succeeded", now)
        self._made_room(queue)

    def _ack(
        self,
        delivery: Delivery,
        result: TaskResult | None,
        ttl: float,
        then: Callable[[], None] | None = None,
    ) -> bool:
        """Fenced ack (lock held); a delivery that already acked its message answers ``True``.

        ``then`` runs after an ack this call made, never after a repeated one: a workflow's
        follow-up is applied once.
        """
        queue, record = self._held_after_storing(delivery, result, ttl)
        if record is None:
            return queue.acked_before(
                delivery.id, worker_id=delivery.worker_id, token=delivery.token
            )
        self._take_acked(queue, record)
        if then is not None:
            then()
        return True

    def _bury(self, delivery: Delivery, reason: str, result: TaskResult | None, ttl: float) -> bool:
        """Fenced move of a held delivery to DEAD after storing ``result`` (lock held).

        ``False`` when the lease was lost: nothing moved (the result, which the task did
        produce, is stored either way).
        """
        queue, record = self._held_after_storing(delivery, result, ttl)
        if record is None:
            return False
        self._take_dead(queue, record, reason)
        return True

    def _take_dead(self, queue: MemoryQueue, record: Record, reason: str) -> None:
        """A held record goes to DEAD: counted in the history, its room given back (lock held)."""
        now = self.now()
        queue.to_dead(record, reason=reason, now=now)
        queue.history.count("failed", now)
        self._made_room(queue)

    def _made_room(self, queue: MemoryQueue) -> None:
        """A message left PROCESSING for good: wake reserves waiting under the queue's cap."""
        if queue.max_in_flight is not None:
            self._work_may_be_ready.notify_all()

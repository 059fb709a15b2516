"""The core storage contract every taskq backend implements: the queue.

A message id is, at every moment, in exactly one of four states per queue, or gone (acked):

* READY: waiting to be reserved; FIFO within a priority level, larger priority first.
* SCHEDULED: waiting for its ETA (also where retries wait out their backoff).
* PROCESSING: reserved by one worker under a lease that expires at a deadline.
* DEAD: kept with a reason until an operator requeues or purges it.

``BaseBroker`` is those states, every move between them and the reads that count them: all a
worker needs to run tasks. Everything beside the queue (results, rate limits, ...) is an optional
capability in :mod:`taskq_core.capabilities`, which a backend opts in to by subclassing it.

It is a pure storage SPI: it fires no hooks and holds no retry policy. The app and the worker
decide *what* should happen (retry in 4 s, bury with this reason); the broker makes each decision
one atomic, thread-safe state change.

Fencing: ``reserve`` increments the message's delivery count and hands it out as
``Delivery.token``. The count only ever grows (``release`` and ``requeue_dead`` do not roll it
back), so a token is never reissued. ``ack``, ``retry``, ``dead``, ``postpone``, ``end``,
``extend_lease`` and ``release`` act only when the message is still in PROCESSING, owned by
``delivery.worker_id``, with that same token. Otherwise they change nothing and return ``False``:
a worker that stalled past its lease cannot touch a message that has since been handed to another
worker. A lease is *lost* when the reaper has taken the message back (or it was handed out again);
a lease past its deadline that no reaper has recovered yet still works.

Lost replies: a ``send`` retried after a connection drop answers ``False`` although the first
attempt wrote (an ``ack`` repeated by the same delivery answers ``True``). Callers treat ``False``
after a connection error as "maybe done", which at-least-once delivery tolerates.

Results: ``ack``, ``dead`` and ``end`` take a result along; a ``ResultStore`` keeps it.

Time: float seconds since the epoch. ``clock=None`` lets the backend use its own authority (the
Redis server's ``TIME``, so worker clock skew cannot break leases); tests pass a
:class:`~taskq_core.clock.FakeClock` and move time instead of sleeping.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar, Self

from taskq_core.errors import PartialSendError, TaskqError

if TYPE_CHECKING:
    from types import TracebackType

    from taskq_core.clock import Clock
    from taskq_core.schemas import (
        DeadLetter,
        Delivery,
        EndStatus,
        Message,
        QueueCounts,
        RecoveryReport,
        TaskResult,
    )

#: Seconds a stored result is kept unless the caller says otherwise (RQ's default).
DEFAULT_RESULT_TTL = 500.0


class BaseBroker(abc.ABC):
    """Core storage contract of a taskq backend; see the module docstring for the state machine."""

    #: Primary URL scheme, for messages and ``taskq status``.
    scheme: ClassVar[str] = ""
    #: Whether several processes (and machines) can share the queues. ``False`` (the in-memory
    #: backend): ``taskq worker`` says that only producers in its own process reach it.
    cross_process: ClassVar[bool] = True

    def __init__(self, *, clock: Clock | None = None) -> None:
        self.clock = clock

    @classmethod
    @abc.abstractmethod
    def from_url(cls, url: str, **options: object) -> Self:
        """Build a broker from a URL; raise ``ConfigurationError`` (one line) for a bad URL."""

    def connect(self) -> None:  # noqa: B027 - optional hook, no-op by default
        """Check the broker is reachable; idempotent.

        Raises ``BrokerUnavailable`` with one clear line (host, port, cause) when it is not.
        """

    def close(self) -> None:  # noqa: B027 - optional hook, no-op by default
        """Release connections; the broker must not be used afterwards."""

    def interrupt(self) -> None:  # noqa: B027 - optional hook, no-op by default
        """Make ``reserve`` calls already blocked in this process return promptly (maybe empty).

        Graceful shutdown calls it so a worker does not wait out a long blocking timeout. Reserves
        that start afterwards block as usual.
        """

    def __enter__(self) -> Self:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @abc.abstractmethod
    def now(self) -> float:
        """Current time as the broker sees it: ``clock.now()`` if a clock was given."""

    # -- producing --------------------------------------------------------------------------

    @abc.abstractmethod
    def send(self, message: Message, *, replace_result: bool = False) -> bool:
        """Put ``message`` in READY of ``message.queue``.

        Idempotent by id: returns ``False`` and changes nothing when the id is already known to the
        queue in any state, so a send retried after a lost reply cannot duplicate the message.

        ``replace_result=True`` (the app passes it for ids the caller chose) also deletes any result
        stored under the id, in the same atomic step as the write, so an id reused after its
        earlier message finished is not answered with the earlier result. A send that writes
        nothing deletes nothing.

        Raises:
            BrokerFullError: the broker is out of memory; nothing was written.
        """

    def send_batch(
        self, messages: Sequence[Message], *, replace_result: bool = False
    ) -> list[bool]:
        """Send many messages; result ``i`` is what ``send(messages[i])`` would return.

        Each message is atomic on its own; the batch as a whole need not be. Backends override
        this to save round trips.

        Raises:
            PartialSendError: the broker refused part of the batch after writing another part;
                ``sent`` and ``unsent`` list the ids of each, the refusal is the ``__cause__``.
            BrokerFullError: the broker is out of memory; nothing was written.
        """
        written: list[bool] = []
        for message in messages:
            try:
                written.append(self.send(message, replace_result=replace_result))
            except TaskqError as exc:
                if not written:
                    raise
                ids = [m.id for m in messages]
                raise partial_send(ids[: len(written)], ids[len(written) :], exc) from exc
        return written

    @abc.abstractmethod
    def schedule(self, message: Message, *, eta: float, replace_result: bool = False) -> bool:
        """Put ``message`` in SCHEDULED until ``eta``; same idempotency as :meth:`send`.

        A message is never visible to ``reserve`` before its ETA; once due it is promoted to READY
        by ``reserve`` or :meth:`poll_schedule`. An ``eta`` in the past means ready now.
        ``replace_result`` as for :meth:`send`.
        """

    @abc.abstractmethod
    def poll_schedule(self, queue: str, *, limit: int = 1000) -> int:
        """Move up to ``limit`` due SCHEDULED messages to READY, earliest ETA first.

        Returns how many moved. A backstop: ``reserve`` promotes due messages too.
        """

    def next_eta(self, queue: str) -> float | None:
        """The earliest ETA among ``queue``'s SCHEDULED messages, or ``None`` if it has none.

        A read for tools, not for the worker's hot path: ``run_until_idle`` uses it to move a
        fake clock straight to the next countdown or retry. The default says "unknown"
        (``None``); backends that can answer cheaply override it.
        """
        return None

    # -- consuming --------------------------------------------------------------------------

    @abc.abstractmethod
    def reserve(
        self,
        queues: Sequence[str],
        *,
        worker_id: str,
        lease: float,
        limit: int = 1,
        timeout: float = 0.0,
    ) -> list[Delivery]:
        """Move up to ``limit`` READY messages to PROCESSING under a lease of ``lease`` seconds.

        ``queues`` are tried in order; messages come from the first queue that has any, highest
        priority first, FIFO within a priority. Due SCHEDULED messages are promoted first. Each
        reserved message's delivery count goes up by one and becomes the delivery's token; no
        message is handed out twice while its lease holds.

        A batch never mixes queues. With :class:`~taskq_core.capabilities.QueueControl`, a
        paused queue, or one whose in-flight cap is reached, hands out nothing.

        When nothing is ready, waits up to ``timeout`` seconds (real time) for work without
        polling, then returns ``[]``. A payload that cannot be decoded is moved to DEAD with the
        decode error as its reason (and a FAILURE result) and is not returned.

        A message whose ``expires`` has passed (or that was revoked, with
        :class:`~taskq_core.capabilities.Revocation`) is not returned either: it ends as by
        :meth:`end` with ``EXPIRED`` (or ``REVOKED``).
        Should the process die in between, its lease runs out, and the next reserve ends it.
        """

    @abc.abstractmethod
    def ack(
        self,
        delivery: Delivery,
        *,
        result: TaskResult | None = None,
        result_ttl: float = DEFAULT_RESULT_TTL,
    ) -> bool:
        """Finish the delivery: the message leaves the broker.

        Returns ``False`` and changes nothing if the lease was lost (fencing, module docstring).
        ``result``, when given, is stored for ``result_ttl`` seconds (by a
        :class:`~taskq_core.capabilities.ResultStore`; others drop it) before the ack, whether or
        not the ack then succeeds: the task did produce it.
        """

    def ack_many(
        self,
        deliveries: Sequence[Delivery],
        *,
        results: Sequence[TaskResult | None] | None = None,
        result_ttl: float | Sequence[float] = DEFAULT_RESULT_TTL,
    ) -> list[bool]:
        """Ack many deliveries; result ``i`` is what ``ack(deliveries[i], ...)`` would return.

        The same effect as acking each in turn: every delivery is fenced on its own (a lost
        lease refuses that one only, and an id given twice is acked once), and ``results[i]``
        (``None``: none) is stored for ``result_ttl`` (one TTL for all, or one per delivery)
        whether or not its ack succeeds. Not atomic as a whole: a crash or a lost connection
        in the middle can leave some acked and some not, which at-least-once delivery
        tolerates (those run again). Backends override it to save round trips; this default
        loops over :meth:`ack`.
        """
        outcomes = outcomes_of(deliveries, results, result_ttl)
        acked: list[bool] = []
        for delivery, outcome in zip(deliveries, outcomes, strict=True):
            result, ttl = outcome if outcome is not None else (None, DEFAULT_RESULT_TTL)
            acked.append(self.ack(delivery, result=result, result_ttl=ttl))
        return acked

    @abc.abstractmethod
    def retry(self, delivery: Delivery, *, delay: float, error: str | None = None) -> bool:
        """Count one retry and return the message to READY, or to SCHEDULED ``delay`` s from now.

        The delivery count is kept; the retry count goes up by one; ``error`` is kept as the last
        error (``Delivery.last_error`` of the next reservation, ``DeadLetter.last_error``).
        Fenced: ``False`` and no change if the lease was lost.
        """

    @abc.abstractmethod
    def postpone(self, delivery: Delivery, *, delay: float) -> bool:
        """Put the message back, to READY or to SCHEDULED ``delay`` s from now, counting nothing.

        Neither a retry nor a lost lease is counted: the task did not run (a rate limit said
        "not yet"), so it must not use up its retries while it waits. Fenced like :meth:`ack`.
        """

    @abc.abstractmethod
    def dead(
        self,
        delivery: Delivery,
        *,
        reason: str,
        result: TaskResult | None = None,
        result_ttl: float = DEFAULT_RESULT_TTL,
    ) -> bool:
        """Move the message from PROCESSING to DEAD, keeping ``reason``. Fenced like :meth:`ack`.

        ``result`` (a FAILURE) is stored like :meth:`ack`'s.
        """

    @abc.abstractmethod
    def end(
        self, delivery: Delivery, *, status: EndStatus, result_ttl: float = DEFAULT_RESULT_TTL
    ) -> bool:
        """Finish a held delivery that did not run to its end: revoked, or expired unstarted.

        The message leaves the broker like an ack (fenced like :meth:`ack`), counted as
        ``revoked`` or ``expired`` (``QueueCounts`` totals and the history) instead of
        succeeded, and a result of ``status`` (no value) is stored for ``result_ttl`` as
        :meth:`ack` stores one.
        """

    @abc.abstractmethod
    def extend_lease(self, deliveries: Sequence[Delivery], *, lease: float) -> list[bool]:
        """Push each lease deadline to ``now + lease``; one batched call for a worker's heartbeat.

        Result ``i`` is ``False`` when delivery ``i`` is no longer held (its lease was lost), so
        the worker knows its result will be refused. ``lease=0`` expires the leases now, which
        hands the messages to the next :meth:`recover_expired` (a worker that knows a task's
        process died uses it to skip the wait).
        """

    @abc.abstractmethod
    def release(self, deliveries: Sequence[Delivery]) -> int:
        """Give held deliveries back to the front of READY without counting a retry or a loss.

        For graceful shutdown of prefetched, unstarted work. Returns how many were released;
        deliveries whose lease was already lost are skipped.
        """

    @abc.abstractmethod
    def recover_expired(self, queue: str, *, limit: int = 1000) -> RecoveryReport:
        """Hand back up to ``limit`` PROCESSING messages whose lease deadline has passed.

        A lease has expired when its deadline is at or before now. Each recovered message's
        lost-lease count goes up by one. Below the message's ``max_deliveries`` it goes to the
        front of READY (earliest-expired first); at the limit it goes to DEAD with a reason naming
        the count, so a task that kills its worker every time cannot loop forever. Safe to run
        from many workers at once: each expired message is recovered exactly once.
        """

    # -- reading and emptying the queue -----------------------------------------------------

    @abc.abstractmethod
    def queues(self) -> list[str]:
        """Names of every queue that ever received a message, sorted; persisted in the broker."""

    @abc.abstractmethod
    def counts(self, queue: str) -> QueueCounts:
        """How many messages ``queue`` holds in each state; cheap enough for a dashboard.

        ``expired`` and ``revoked`` are totals since the queue was created (never reset by the
        history's trimming), so no expired message goes uncounted.
        """

    @abc.abstractmethod
    def list_dead(self, queue: str, *, offset: int = 0, limit: int = 100) -> list[DeadLetter]:
        """DEAD messages of ``queue``, most recent first, with their reasons."""

    @abc.abstractmethod
    def requeue_dead(self, queue: str, ids: Sequence[str] | None = None) -> int:
        """Move DEAD messages (all, or those in ``ids``) back to READY with fresh counters.

        Retries and lost leases start again from zero; the delivery count (the fencing token)
        keeps growing, so a handle from before the message died stays fenced out. Returns how
        many moved; unknown ids are ignored.
        """

    @abc.abstractmethod
    def purge(self, queue: str) -> int:
        """Delete every READY and SCHEDULED message of ``queue``; returns how many.

        PROCESSING is left alone: those messages belong to running workers.
        """

    @abc.abstractmethod
    def purge_dead(self, queue: str) -> int:
        """Delete every DEAD message of ``queue``; returns how many."""


def partial_send(
    sent: Sequence[str], unsent: Sequence[str], cause: BaseException
) -> PartialSendError:
    """The :class:`PartialSendError` of a batch whose ``sent`` ids were written, not ``unsent``.

    The caller chains it to ``cause`` (``raise ... from cause``).
    """
    total = len(sent) + len(unsent)
    return PartialSendError(
        f"{len(sent)} of {total} messages were sent before the broker refused the rest ({cause}); "
        "send the unsent ones again with the same task ids (see the error's .unsent)",
        sent=tuple(sent),
        unsent=tuple(unsent),
    )


def outcomes_of(
    deliveries: Sequence[Delivery],
    results: Sequence[TaskResult | None] | None,
    result_ttl: float | Sequence[float],
) -> list[tuple[TaskResult, float] | None]:
    """``ack_many``'s arguments as one ``(result, ttl)`` or ``None`` per delivery.

    Raises:
        ValueError: ``results`` or a per-delivery ``result_ttl`` does not match ``deliveries``.
    """
    count = len(deliveries)
    if results is None:
        return [None] * count
    ttls = [float(result_ttl)] * count if isinstance(result_ttl, int | float) else list(result_ttl)
    if len(results) != count or len(ttls) != count:
        raise ValueError("ack_many needs one result and one result_ttl per delivery")
    return [None if r is None else (r, ttl) for r, ttl in zip(results, ttls, strict=True)]


def as_queue_list(queues: str | Sequence[str]) -> list[str]:
    """Accept one queue name or several; a bare string is one queue, not its characters."""
    return [queues] if isinstance(queues, str) else list(queues)

"""The storage contract every taskq backend implements.

A message id is, at every moment, in exactly one of four states per queue, or gone (acked):

* READY: waiting to be reserved; FIFO within a priority level, larger priority first.
* SCHEDULED: waiting for its ETA (also where retries wait out their backoff).
* PROCESSING: reserved by one worker under a lease that expires at a deadline.
* DEAD: kept with a reason until an operator requeues or purges it.

``BaseBroker`` is a pure storage SPI: it fires no hooks and holds no retry policy. The app and the
worker decide *what* should happen (retry after 4 s, bury with this reason); the broker makes each
decision one atomic state change. Every method is thread-safe.

Fencing: ``reserve`` increments the message's delivery count and hands it out as
``Delivery.token``. The count only ever grows (``release`` and ``requeue_dead`` do not roll it
back), so a token is never reissued. ``ack``, ``retry``, ``dead``, ``postpone``, ``extend_lease``
and ``release`` act only when the message is still in PROCESSING, owned by
``delivery.worker_id``, with that same token. Otherwise they change nothing and return ``False``:
a worker that stalled past its lease cannot touch a message that has since been handed to another
worker. A lease is *lost* when the reaper has taken the message back (or it was handed out again);
a lease past its deadline that no reaper has recovered yet still works.

Lost replies: when a connection drops after the broker applied a call, a retried ``send`` or
``ack`` answers ``False`` although the first attempt succeeded. Callers treat ``False`` after a
connection error as "maybe done", which at-least-once delivery tolerates.

Results: ``ack`` and ``dead`` can store a :class:`~taskq_core.schemas.TaskResult` for the message
id in the same round trip; ``get_result`` waits for one without polling, for any number of waiters
that start before or after it is stored.

Time: float seconds since the epoch. ``clock=None`` lets the backend use its own authority (the
Redis server's ``TIME``, so worker clock skew cannot break leases); tests pass a
:class:`~taskq_core.clock.FakeClock` and move time instead of sleeping.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal, Self

from taskq_core.errors import ConfigurationError, PartialSendError, TaskqError

if TYPE_CHECKING:
    from types import TracebackType

    from taskq_core.aio import AsyncProducer
    from taskq_core.canvas.effects import Continuation
    from taskq_core.clock import Clock
    from taskq_core.progress import TaskState
    from taskq_core.schemas import (
        DeadLetter,
        Delivery,
        EndStatus,
        Message,
        MessageInfo,
        MinuteCounts,
        QueueCounts,
        QueueStats,
        RecoveryReport,
        TaskResult,
        WorkerInfo,
    )
    from taskq_core.unique import UniqueClaim

#: Seconds a stored result is kept unless the caller says otherwise (RQ's default).
DEFAULT_RESULT_TTL = 500.0

#: What :meth:`BaseBroker.revoke` found: ``revoked`` (it was READY or SCHEDULED and is gone,
#: its result REVOKED), ``running`` (PROCESSING: it will not start again, and with
#: ``terminate`` its worker was told to stop it) or ``absent`` (the queue does not hold it, or
#: holds it in DEAD: nothing changed).
RevokeOutcome = Literal["revoked", "running", "absent"]


#: A heartbeat that comes more than this many of the worker's heartbeat intervals after its
#: previous one starts a new stretch of heartbeats (see ``expire_dead_workers``): between the
#: two, the worker, or the broker, was out.
HEARTBEAT_GAP_FACTOR = 1.5


def heartbeat_gap(worker: WorkerInfo) -> float | None:
    """The longest gap between two heartbeats of ``worker`` within one stretch, in seconds.

    ``None`` when the worker did not say its heartbeat interval: its stretch then starts at its
    first heartbeat and is never broken.
    """
    if worker.heartbeat_interval <= 0:
        return None
    return worker.heartbeat_interval * HEARTBEAT_GAP_FACTOR


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do beyond the contract; the conformance suite skips by these, loudly.

    Attributes:
        cross_process: Several processes (and machines) can share the queues. ``False`` for the
            in-memory backend: the CLI's ``taskq worker`` says that only producers in its own
            process can reach it. (The processes pool works with it: its children only run
            tasks; the parent does every broker call.)
        workflows: The backend implements :meth:`BaseBroker.ack_and_continue`,
            :meth:`BaseBroker.dead_and_continue` and :meth:`BaseBroker.start_flow`, which
            chains, groups and chords need.
    """

    cross_process: bool = True
    workflows: bool = False


class BaseBroker(abc.ABC):
    """Storage contract of a taskq backend; see the module docstring for the state machine."""

    #: Primary URL scheme, for messages and ``taskq status``.
    scheme: ClassVar[str] = ""
    capabilities: ClassVar[Capabilities] = Capabilities()

    def __init__(self, *, clock: Clock | None = None) -> None:
        self.clock = clock

    # -- lifecycle -------------------------------------------------------------------------------

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

    def async_producer(self) -> AsyncProducer:
        """The producer side for asyncio code (``adelay``, ``aget``): an optional capability.

        Returns the same object on every call; it never blocks the loop and never runs this
        broker's sync client in a thread. :meth:`close` also closes its connections.

        Raises:
            ConfigurationError: this backend has none (the default), in one line.
        """
        raise ConfigurationError(
            f"the {self.scheme or type(self).__name__} backend has no asyncio producer API "
            "(adelay, aget); use delay() and get(), or a backend that has one"
        )

    # -- producing -------------------------------------------------------------------------------

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
    def send_unique(
        self,
        message: Message,
        claim: UniqueClaim,
        *,
        eta: float | None = None,
        replace_result: bool = False,
    ) -> str:
        """Send ``message`` unless another message of its queue holds ``claim.key``.

        Writes as :meth:`send` does (as :meth:`schedule` with ``eta``). One atomic step: the
        key is claimed for ``message.id`` and the message written together, so of any number
        of racing sends exactly one writes. While another message holds the key, nothing is
        written and that message's id is returned. A hold ends ``claim.ttl`` seconds of broker
        time after it was claimed; with ``claim.until == "done"`` it also ends when its message
        is acked or goes to DEAD (by ``dead`` or ``recover_expired``), whichever comes first.
        Retries, postpones and releases keep it. A known id writes nothing, as for
        :meth:`send`.

        Returns:
            The id of the message holding the key after the call: ``message.id`` when this call
            wrote it (or the id was known already), another id for a duplicate.

        Raises:
            BrokerFullError: the broker is out of memory; nothing was written.
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

    # -- periodic ticks --------------------------------------------------------------------------

    @abc.abstractmethod
    def claim_tick(self, message: Message, *, schedule: str, tick: float) -> bool:
        """Claim tick ``tick`` of the periodic schedule ``schedule`` and send ``message`` for it.

        One atomic step: the tick is claimed only when it is later than every tick of
        ``schedule`` claimed before in ``message.queue``, and a claimed tick's message is in
        READY in that same step. So however many schedulers offer one tick, exactly one message
        is sent, an older tick offered late is refused, and no scheduler can die between claim
        and send. The claimed tick is kept (see :meth:`last_tick`); one value per schedule, so
        the record does not grow.

        Returns ``True`` when this call claimed the tick and wrote the message. ``False`` and no
        change when the tick (or a later one) was claimed already, which is also what a call
        retried after a lost reply answers; the message id (derived from schedule and tick)
        is refused like any known id of :meth:`send`.
        """

    @abc.abstractmethod
    def last_tick(self, queue: str, schedule: str) -> float | None:
        """The latest tick of ``schedule`` claimed in ``queue``, or ``None`` if none was."""

    # -- consuming -------------------------------------------------------------------------------

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

        A batch never mixes queues. A queue whose in-flight cap (:meth:`set_queue_limit`) is
        reached hands out nothing until a message leaves PROCESSING.

        When nothing is ready, waits up to ``timeout`` seconds (real time) for work without
        polling, then returns ``[]``. A payload that cannot be decoded is moved to DEAD with the
        decode error as its reason (and a FAILURE result) and is not returned.

        A message that was revoked, or whose ``expires`` has passed, is not returned either: it
        ends as by :meth:`end` with ``REVOKED`` or ``EXPIRED`` (result stored, outcome counted).
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
        ``result``, when given, is stored for ``result_ttl`` seconds (as by :meth:`store_result`)
        before the ack, whether or not the ack then succeeds: the task did produce it.
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

    # -- workflows (chain, group, chord) -------------------------------------------------------

    def ack_and_continue(
        self,
        delivery: Delivery,
        continuation: Continuation,
        *,
        result: TaskResult | None = None,
        result_ttl: float = DEFAULT_RESULT_TTL,
    ) -> bool:
        """:meth:`ack` and apply ``continuation`` in one atomic step, or do neither.

        Fenced like :meth:`ack`; ``result`` is stored as by :meth:`ack`. When the ack happens,
        in the same step: every chord of ``continuation.chords`` is created (an id that already
        has a join record is left alone), every message of ``continuation.sends`` is sent
        (idempotent by id, deleting a result stored under its id), ``continuation.results``
        are stored, and ``continuation.join`` records the member's value under its index in
        its chord. Members are counted by index, once each, so a member acked twice (two
        deliveries, at-least-once) counts once. When the last distinct member joins, the
        callback is sent, exactly once, with the member values in index order in place of
        :data:`~taskq_core.canvas.effects.CHORD_RESULTS`, and any FAILURE stored under its id
        is deleted; the join record is then dropped, so later joins change nothing. A join for
        a chord with no record (never created, or already fired) changes nothing.

        A call that answers ``True`` for an ack applied by an earlier call whose reply was lost
        applies nothing again. Returns ``False`` and changes nothing if the lease was lost.

        Raises:
            ConfigurationError: the backend does not implement workflows.
        """
        raise _no_workflows(self)

    def ack_and_continue_many(
        self,
        deliveries: Sequence[Delivery],
        continuations: Sequence[Continuation],
        *,
        results: Sequence[TaskResult | None] | None = None,
        result_ttl: float | Sequence[float] = DEFAULT_RESULT_TTL,
    ) -> list[bool]:
        """:meth:`ack_and_continue` for each delivery in turn; result ``i`` is what it answers.

        Each delivery and its continuation are one atomic step on their own; the batch as a
        whole is not (as :meth:`ack_many`). Backends override it to save round trips; this
        default loops.
        """
        outcomes = outcomes_of(deliveries, results, result_ttl)
        acked: list[bool] = []
        for delivery, then, outcome in zip(deliveries, continuations, outcomes, strict=True):
            result, ttl = outcome if outcome is not None else (None, DEFAULT_RESULT_TTL)
            acked.append(self.ack_and_continue(delivery, then, result=result, result_ttl=ttl))
        return acked

    def dead_and_continue(
        self,
        delivery: Delivery,
        continuation: Continuation,
        *,
        reason: str,
        result: TaskResult | None = None,
        result_ttl: float = DEFAULT_RESULT_TTL,
    ) -> bool:
        """:meth:`dead` and apply ``continuation`` (error callbacks) in one atomic step.

        Fenced like :meth:`dead`. When the burial happens, in the same step: ``sends`` are sent
        and ``results`` stored (as by :meth:`ack_and_continue`); and when the message is a
        chord member (``continuation.join``) whose chord is not already failed: the chord is
        marked failed, ``join.failure`` is stored under the callback id and ``join.errbacks``
        are sent. A failed chord keeps its join record: a member requeued from DEAD that then
        succeeds still completes it, and the callback then runs.

        Raises:
            ConfigurationError: the backend does not implement workflows.
        """
        raise _no_workflows(self)

    def start_flow(self, continuation: Continuation) -> None:
        """Create ``continuation.chords`` and send ``continuation.sends`` in one atomic step.

        A producer starts a workflow with it, so a chord's record and its members are written
        together or not at all. ``join`` must be ``None``.

        Raises:
            ConfigurationError: the backend does not implement workflows.
            BrokerFullError: the broker is out of memory; nothing was written.
        """
        raise _no_workflows(self)

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

    # -- control: revoke and expiry (docs/control.md) ---------------------------------------------

    @abc.abstractmethod
    def revoke(
        self,
        queue: str,
        message_id: str,
        *,
        terminate: bool = False,
        result_ttl: float = DEFAULT_RESULT_TTL,
    ) -> RevokeOutcome:
        """Revoke ``message_id`` in ``queue``: it is not run (again).

        READY or SCHEDULED: the message leaves the broker in one atomic step, counted as
        ``revoked`` in the history, and a ``REVOKED`` result is stored for ``result_ttl``.
        PROCESSING: the revocation is kept with the message, so whatever would run it again (a
        retry, a lease recovered after its worker died, a worker that starts later) ends it
        ``REVOKED`` at :meth:`reserve` instead; a running task is left alone unless
        ``terminate``, which also tells the owner worker (:meth:`wait_terminations`) to stop it.
        DEAD or unknown: nothing changes. Idempotent.
        """

    @abc.abstractmethod
    def end(
        self, delivery: Delivery, *, status: EndStatus, result_ttl: float = DEFAULT_RESULT_TTL
    ) -> bool:
        """Finish a held delivery that did not run to its end: revoked, or expired unstarted.

        The message leaves the broker like an ack (fenced like :meth:`ack`), counted as
        ``revoked`` or ``expired`` in the history instead of succeeded, and a result of
        ``status`` (no value) is stored for ``result_ttl`` whether or not the ack succeeds.
        """

    @abc.abstractmethod
    def wait_terminations(
        self, worker_id: str, queues: Sequence[str], *, timeout: float
    ) -> list[str]:
        """Ids of messages in ``queues`` that :meth:`revoke` asked ``worker_id`` to terminate.

        Waits up to ``timeout`` real seconds, without polling, for the first request; each is
        answered once (kept in the broker until then, so a request made while the worker was
        between two calls is not lost). A request may name a message the worker holds no more.
        """

    # -- workers ---------------------------------------------------------------------------------

    @abc.abstractmethod
    def send_heartbeat(self, worker: WorkerInfo) -> None:
        """Record that ``worker`` is alive now, in every queue of ``worker.queues``."""

    @abc.abstractmethod
    def list_alive_workers(self, *, within: float, queue: str | None = None) -> list[WorkerInfo]:
        """Workers whose last heartbeat is at most ``within`` seconds old, ``last_seen`` filled in.

        ``queue=None`` means every queue known from messages or heartbeats; each worker appears
        once.
        """

    @abc.abstractmethod
    def forget_worker(self, worker: WorkerInfo) -> None:
        """Remove ``worker`` from the liveness records (clean shutdown)."""

    @abc.abstractmethod
    def expire_dead_workers(
        self, queue: str, *, within: float, reaper: str | None = None
    ) -> list[str]:
        """Declare dead the workers silent for more than ``within`` seconds and expire their leases.

        Every PROCESSING message such a worker holds gets a lease deadline of now, so the next
        :meth:`recover_expired` hands it back (one code path for every loss, so crash counting
        stays consistent). Returns the ids of the workers removed.

        ``reaper`` is the id of the worker calling (a worker's reaper always passes it). Then
        nobody is declared dead unless that reaper watched the whole silence: its own last
        heartbeat in ``queue`` is at most ``within / 2`` old, and its current stretch of
        heartbeats began at least ``within`` ago. A stretch starts with a worker's first
        heartbeat and again after any gap longer than :func:`heartbeat_gap`. A broker outage
        (a restart, a partition, a frozen server) silences every worker, the reaper too, so
        the workers it silenced are never declared dead for it: each has ``within`` seconds
        after the reaper's stretch begins to heartbeat again, and only a lease that runs out
        during a longer outage hands a message out again. Atomic with the expiry, so any number
        of reapers may call it at once.
        """

    # -- monitoring and admin --------------------------------------------------------------------

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
    def history(self, queue: str, *, minutes: int = 60) -> list[MinuteCounts]:
        """Outcomes per minute of broker time: the last ``minutes`` minutes, oldest first.

        One entry per minute up to the current one, zeros included. Counted in the same atomic
        step as the state change: ``ack``/``ack_many`` (succeeded), ``dead`` (failed), ``retry``
        (retried), ``end`` and ``revoke`` (expired, revoked). Bounded: the broker keeps
        :data:`~taskq_core.schemas.HISTORY_MINUTES` minutes; ``minutes`` outside
        ``1..HISTORY_MINUTES`` raises ``ValueError``.
        """

    def queue_stats(self, queue: str, *, minutes: int = 60) -> QueueStats:
        """:meth:`counts`, :meth:`history` and :meth:`paused` together.

        Backends override it to save round trips. Not atomic: the parts may be a moment apart,
        which a dashboard tolerates.
        """
        from taskq_core.schemas import QueueStats

        history = self.history(queue, minutes=minutes)
        counts = self.counts(queue)
        return QueueStats(counts=counts, history=tuple(history), paused=self.paused(queue))

    @abc.abstractmethod
    def message_info(self, queue: str, message_id: str) -> MessageInfo | None:
        """What ``queue`` holds about ``message_id`` (state, payload, counters), or ``None``.

        ``None`` when the queue does not hold it (never sent there, acked or purged). Reads
        only; cheap (a few O(1) lookups), so a dashboard may call it once per queue.
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
    def set_queue_limit(self, queue: str, *, max_in_flight: int | None) -> None:
        """Cap how many messages of ``queue`` may be in PROCESSING at once, across all workers.

        ``None`` removes the cap; a cap below 1 raises ``ValueError`` (pausing a queue is not
        what a cap is for). The cap is stored in the broker, so every worker obeys the same one;
        messages already in PROCESSING above a lowered cap are left alone. A capped queue that is
        full counts as empty for ``reserve``, which moves on to the next queue.
        """

    @abc.abstractmethod
    def pause(self, queue: str) -> bool:
        """Stop ``reserve`` from handing out messages of ``queue``, for every worker at once.

        Stored in the broker and checked inside the atomic reserve itself, so no worker polls
        for it and none takes a message of the queue after this returns. Sends still write,
        due SCHEDULED messages may still become READY, and messages already in PROCESSING
        settle as usual. Returns ``False`` when the queue was paused already.
        """

    @abc.abstractmethod
    def resume(self, queue: str) -> bool:
        """Let ``reserve`` hand out messages of ``queue`` again.

        Wakes reserves blocked on the queue the way a send does, so waiting workers start its
        READY messages promptly. Returns ``False`` when the queue was not paused.
        """

    @abc.abstractmethod
    def paused(self, queue: str) -> bool:
        """Whether ``queue`` is paused (:meth:`pause`)."""

    # -- results ---------------------------------------------------------------------------------

    @abc.abstractmethod
    def store_result(self, result: TaskResult, *, ttl: float = DEFAULT_RESULT_TTL) -> None:
        """Keep ``result`` under its id for ``ttl`` seconds, replacing any earlier one.

        Wakes every :meth:`get_result` waiting for that id.
        """

    @abc.abstractmethod
    def get_result(self, message_id: str, *, timeout: float | None = 0.0) -> TaskResult | None:
        """The stored result of ``message_id``, waiting up to ``timeout`` real seconds for it.

        ``timeout=0`` does not wait; ``None`` waits until it arrives. Waits without polling; any
        number of waiters receive the same result, whether they started before or after it was
        stored. ``None`` when there is none (yet, or any more: it expired or was forgotten).
        """

    @abc.abstractmethod
    def forget_result(self, message_id: str) -> None:
        """Delete the stored result of ``message_id``, if any."""

    def set_task_state(  # noqa: B027 - optional, no-op by default
        self, state: TaskState, *, ttl: float = DEFAULT_RESULT_TTL
    ) -> None:
        """Keep ``state`` (STARTED, RETRY, progress) under its id for ``ttl`` seconds.

        Informational: the latest write wins and nothing is fenced. A stored result takes
        precedence over it for ``AsyncResult.status``. A backend that keeps no task states
        ignores it (this default), and then tasks show PENDING until their result exists.
        """

    def get_task_state(self, message_id: str) -> TaskState | None:
        """The latest :meth:`set_task_state` of ``message_id`` still kept, or ``None``."""
        return None

    # -- rate limits -----------------------------------------------------------------------------

    @abc.abstractmethod
    def acquire_rate_limit(self, key: str, *, limit: int, period: float) -> float:
        """Take one grant of the limiter ``key``, or say how long until one is possible.

        A sliding window over broker time: the grant is recorded and ``0.0`` returned when fewer
        than ``limit`` grants were made in the last ``period`` seconds; otherwise nothing is
        recorded and the seconds until the oldest grant in the window leaves it are returned
        (always > 0). Shared by every process using the broker, so ``limit`` holds across all
        workers together.
        """

    @abc.abstractmethod
    def purge(self, queue: str) -> int:
        """Delete every READY and SCHEDULED message of ``queue``; returns how many.

        PROCESSING is left alone: those messages belong to running workers.
        """

    @abc.abstractmethod
    def purge_dead(self, queue: str) -> int:
        """Delete every DEAD message of ``queue``; returns how many."""


def _no_workflows(broker: BaseBroker) -> TaskqError:
    """The one-line error of a backend without workflows."""
    return ConfigurationError(
        f"the {type(broker).__name__} backend does not support chains, groups or chords"
    )


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

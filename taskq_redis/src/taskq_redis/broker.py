"""``RedisBroker``: the taskq storage contract on Redis, one Lua script per state change.

This module is the contract's front: lifecycle, producing and reserving here, each method
otherwise a short call into the module with one job: ``settling.py`` (ack, retry, postpone,
dead, leases, release, recovery), ``results.py``, ``limits.py`` (queue cap, rate limiters),
``workers.py`` (liveness) and ``admin.py`` (monitoring and operator actions). Scripts live in
``lua/`` and their headers are the specification.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Self

from taskq_core.broker import DEFAULT_RESULT_TTL, as_queue_list, outcomes_of
from taskq_core.capabilities import FullBroker, RevokeOutcome
from taskq_core.errors import ConfigurationError
from taskq_redis import (
    admin,
    chord_index,
    control,
    flowing,
    history,
    limits,
    periodic,
    producing,
    results,
    settling,
    workers,
)
from taskq_redis.aio import RedisAsyncProducer
from taskq_redis.connection import (
    MAX_BLOCK_SECONDS,
    async_client_from_url,
    block_limit,
    broker_options,
    check_server,
    client_from_url,
    ping_once,
    reports_lost_connection,
)
from taskq_redis.keys import DEFAULT_PREFIX, check_prefix
from taskq_redis.reserving import IdleReserves, reserve_blocking
from taskq_redis.store import Store
from taskq_redis.waiting import MarkerWaiter

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import redis
    import redis.asyncio

    from taskq_core.canvas.effects import Continuation
    from taskq_core.capabilities.chord_index import ChordDetail, OpenChords
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


class RedisBroker(FullBroker):
    """Redis backend (Redis 6.2+ or Valkey); safe to share between threads.

    Args:
        client: A redis-py client, or a URL (see :meth:`from_url`). A client passed in is not
            closed by :meth:`close`; its socket timeout should exceed ``max_block``, and it
            should carry a retry policy (``retry=taskq_redis.connection.command_retry()``):
            redis-py's ``from_url`` builds clients that do not retry at all.
        prefix: First part of every key; several taskq apps can share one Redis database.
        clock: Test clock passed to the scripts as ``now``; ``None`` uses the server's TIME.
        max_block: Longest single blocking wait of an idle ``reserve``, in seconds.
        async_client: Builds the ``redis.asyncio`` client of the asyncio producer, once per
            event loop. Built from the URL when ``client`` is one; with a client passed in,
            the asyncio API (``adelay``, ``aget``) needs it.
    """

    scheme: ClassVar[str] = "redis"

    def __init__(
        self,
        client: redis.Redis | str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str | None = None,
        clock: Clock | None = None,
        max_block: float = MAX_BLOCK_SECONDS,
        async_client: Callable[[], redis.asyncio.Redis] | None = None,
    ) -> None:
        super().__init__(clock=clock)
        url_prefix = None
        if isinstance(client, str):
            url = client
            client, url_prefix = client_from_url(url)
            self._owns_client = True
            async_client = async_client or (lambda: async_client_from_url(url))
        else:
            self._owns_client = False
        self._async_client = async_client
        self._async_producer: RedisAsyncProducer | None = None
        self.prefix = check_prefix(prefix or url_prefix or DEFAULT_PREFIX)
        self.client = client
        self._store = Store(client, self.prefix, clock)
        self._waiter = MarkerWaiter(client, block_limit(client, max_block), self._store.scripts)
        self._idle: IdleReserves = {}
        self._connected = False

    @classmethod
    def from_url(cls, url: str, **options: object) -> Self:
        """Build a broker from ``redis://``, ``rediss://`` (TLS) or ``unix://`` URL.

        ``redis://user:password@host:port/db?prefix=myapp&socket_timeout=12`` covers ACL
        users, databases and socket options; ``unix:///run/redis.sock?db=1`` a local socket.
        A ``prefix`` keyword wins over the URL's ``?prefix=``.

        Raises:
            ConfigurationError: the URL or an option is wrong (one line).
        """
        prefix, clock, max_block = broker_options(options)
        return cls(url, prefix=prefix, clock=clock, max_block=max_block)

    # -- lifecycle -------------------------------------------------------------------------------

    @reports_lost_connection
    def connect(self) -> None:
        """PING (failing fast, without backoff), then check the server version and policy.

        Raises:
            BrokerUnavailable: Redis cannot be reached (host, port and cause in one line).
            ConfigurationError: Redis is older than 6.2.
        """
        if self._connected:
            return
        ping_once(self.client)
        check_server(self.client)
        self._connected = True

    def close(self) -> None:
        """Wake blocked reserves and, when this broker built the client, close its pool.

        The asyncio producer's clients are closed too, each on its own event loop.
        """
        self._waiter.interrupt()
        if self._owns_client:
            self.client.close()
        if self._async_producer is not None:
            self._async_producer.close()

    def async_producer(self) -> RedisAsyncProducer:
        """Sends and result waits on ``redis.asyncio``, with the same scripts (``aio.py``).

        Raises:
            ConfigurationError: the broker was given a client but no ``async_client``.
        """
        if self._async_producer is None:
            if self._async_client is None:
                raise ConfigurationError(
                    "this RedisBroker was given a client: pass async_client= (a callable "
                    "returning a redis.asyncio.Redis) to use adelay() and aget()"
                )
            self._async_producer = RedisAsyncProducer(
                self._store, self._async_client, self._waiter.max_block
            )
        return self._async_producer

    def interrupt(self) -> None:
        """Make reserves blocked in this process return promptly with what they have."""
        self._waiter.interrupt()

    @reports_lost_connection
    def now(self) -> float:
        """The test clock's time, else the Redis server's ``TIME``."""
        return self._store.now()

    # -- producing -------------------------------------------------------------------------------

    @reports_lost_connection
    def send(self, message: Message, *, replace_result: bool = False) -> bool:
        """Write ``message`` to READY (idempotent by id); one round trip."""
        return producing.write(self._store, [(message, None)], replace_result=replace_result)[0]

    @reports_lost_connection
    def send_batch(
        self, messages: Sequence[Message], *, replace_result: bool = False
    ) -> list[bool]:
        """Send many messages in one round trip: send_many.lua per queue and 1000 messages.

        Each script call is sent as soon as it is encoded, so Redis works on the first ones
        while the next are encoded. Each call is atomic; when Redis refuses some (out of
        memory), ``PartialSendError`` names the ids the other calls wrote.
        """
        batch = [(message, None) for message in messages]
        return producing.write(self._store, batch, replace_result=replace_result)

    @reports_lost_connection
    def schedule(self, message: Message, *, eta: float, replace_result: bool = False) -> bool:
        """Write ``message`` to SCHEDULED until ``eta`` (READY at once if ``eta`` has passed)."""
        return producing.write(self._store, [(message, eta)], replace_result=replace_result)[0]

    @reports_lost_connection
    def send_unique(
        self,
        message: Message,
        claim: UniqueClaim,
        *,
        eta: float | None = None,
        replace_result: bool = False,
    ) -> str:
        """send.lua with the unique key: claim and write in one script, one round trip.

        The key is held in the queue's ``unique`` hash, with its end in ``unique_until`` (broker
        time); ack.lua, ack_many.lua and dead.lua release it (see ``lua/send.lua``).
        """
        return producing.write_unique(
            self._store, message, claim, eta=eta, replace_result=replace_result
        )

    @reports_lost_connection
    def poll_schedule(self, queue: str, *, limit: int = 1000) -> int:
        """Promote up to ``limit`` due messages, earliest ETA first, in bounded script calls."""
        return producing.promote(self._store, queue, limit)

    @reports_lost_connection
    def next_eta(self, queue: str) -> float | None:
        """The earliest ETA among ``queue``'s SCHEDULED messages (the lowest score)."""
        return admin.next_eta(self._store, queue)

    @reports_lost_connection
    def claim_tick(self, message: Message, *, schedule: str, tick: float) -> bool:
        """Claim ``tick`` of ``schedule`` and send ``message`` to READY: one script, one step.

        The claim is kept in the queue's ``periodic`` hash (see ``lua/claim_tick.lua``).
        """
        return periodic.claim_tick(self._store, message, schedule, tick)

    @reports_lost_connection
    def last_tick(self, queue: str, schedule: str) -> float | None:
        """The latest claimed tick of ``schedule`` in ``queue`` (one HGET)."""
        return periodic.last_tick(self._store, queue, schedule)

    # -- consuming -------------------------------------------------------------------------------

    @reports_lost_connection
    def reserve(
        self,
        queues: Sequence[str],
        *,
        worker_id: str,
        lease: float,
        limit: int = 1,
        timeout: float = 0.0,
    ) -> list[Delivery]:
        """Reserve from the first queue with work; block on the markers while there is none.

        The wait is chunked (at most ``max_block`` per BZPOPMIN, less when the next ETA is
        sooner) so a scheduled message wakes the worker on time and a dead link is noticed.
        """
        _check_reserve_args(lease, limit)
        keys = [self._store.keys(queue) for queue in as_queue_list(queues)]
        if not keys:
            raise ValueError("reserve needs at least one queue")
        return reserve_blocking(
            self._store, self._waiter, self._idle, keys, worker_id, lease, limit, timeout
        )

    @reports_lost_connection
    def ack(
        self,
        delivery: Delivery,
        *,
        result: TaskResult | None = None,
        result_ttl: float = DEFAULT_RESULT_TTL,
    ) -> bool:
        """Store ``result`` (if any) and finish ``delivery``, in one round trip.

        ``False`` if the lease was lost: nothing changes, but the result is stored anyway.
        """
        outcome = None if result is None else (result, result_ttl)
        return settling.ack(self._store, delivery, outcome)

    @reports_lost_connection
    def ack_many(
        self,
        deliveries: Sequence[Delivery],
        *,
        results: Sequence[TaskResult | None] | None = None,
        result_ttl: float | Sequence[float] = DEFAULT_RESULT_TTL,
    ) -> list[bool]:
        """Store the results and ack every delivery in one round trip (ack_many.lua per queue).

        Each delivery is fenced on its own; a bare EVALSHA when all are of one queue (at most
        1000) and there is no result, a pipeline with the store_result calls in front otherwise.
        """
        outcomes = outcomes_of(deliveries, results, result_ttl)
        return settling.ack_many(self._store, deliveries, outcomes)

    @reports_lost_connection
    def ack_and_continue(
        self,
        delivery: Delivery,
        continuation: Continuation,
        *,
        result: TaskResult | None = None,
        result_ttl: float = DEFAULT_RESULT_TTL,
    ) -> bool:
        """Store ``result``, then ack and continue in one flow.lua call; one round trip."""
        outcome = None if result is None else (result, result_ttl)
        return flowing.settle(self._store, "ack", delivery, continuation, outcome, ttl=result_ttl)

    @reports_lost_connection
    def ack_and_continue_many(
        self,
        deliveries: Sequence[Delivery],
        continuations: Sequence[Continuation],
        *,
        results: Sequence[TaskResult | None] | None = None,
        result_ttl: float | Sequence[float] = DEFAULT_RESULT_TTL,
    ) -> list[bool]:
        """The store_result calls, then one flow.lua per delivery, in one round trip."""
        outcomes = outcomes_of(deliveries, results, result_ttl)
        return flowing.settle_many(self._store, deliveries, continuations, outcomes)

    @reports_lost_connection
    def dead_and_continue(
        self,
        delivery: Delivery,
        continuation: Continuation,
        *,
        reason: str,
        result: TaskResult | None = None,
        result_ttl: float = DEFAULT_RESULT_TTL,
    ) -> bool:
        """Store ``result``, then bury and continue in one flow.lua call; one round trip."""
        outcome = None if result is None else (result, result_ttl)
        return flowing.settle(
            self._store, "dead", delivery, continuation, outcome, reason=reason, ttl=result_ttl
        )

    @reports_lost_connection
    def start_flow(self, continuation: Continuation) -> None:
        """Create the chords and send the first messages in one flow.lua call."""
        flowing.start(self._store, continuation)

    @reports_lost_connection
    def retry(self, delivery: Delivery, *, delay: float, error: str | None = None) -> bool:
        """Count a retry and send the message to READY, or to SCHEDULED ``delay`` s from now."""
        return settling.send_back(self._store, "retry", delivery, [repr(float(delay)), error or ""])

    @reports_lost_connection
    def postpone(self, delivery: Delivery, *, delay: float) -> bool:
        """Put the message back (READY, or SCHEDULED ``delay`` s from now), counting nothing."""
        return settling.send_back(self._store, "postpone", delivery, [repr(float(delay))])

    @reports_lost_connection
    def dead(
        self,
        delivery: Delivery,
        *,
        reason: str,
        result: TaskResult | None = None,
        result_ttl: float = DEFAULT_RESULT_TTL,
    ) -> bool:
        """Move the delivery's message to DEAD with ``reason``; fenced like :meth:`ack`.

        ``result`` (a FAILURE) is stored first in the same round trip, fenced out or not.
        """
        keys = self._store.keys(delivery.queue)
        outcome = None if result is None else (result, result_ttl)
        return settling.bury(self._store, keys, settling.fence(delivery), reason, outcome)

    @reports_lost_connection
    def extend_lease(self, deliveries: Sequence[Delivery], *, lease: float) -> list[bool]:
        """Renew every lease still held, in one pipelined round trip (one script per queue).

        ``lease=0`` expires them now, handing the messages to the next ``recover_expired``.
        """
        if lease < 0:
            raise ValueError(f"lease must not be negative, got {lease!r}")
        return settling.extend_lease(self._store, deliveries, lease)

    @reports_lost_connection
    def release(self, deliveries: Sequence[Delivery]) -> int:
        """Give held deliveries back to the front of READY, uncounted; returns how many."""
        return settling.release(self._store, deliveries)

    @reports_lost_connection
    def recover_expired(self, queue: str, *, limit: int = 1000) -> RecoveryReport:
        """Hand back expired leases (front of READY, or DEAD at max_deliveries), bounded.

        Each script call recovers at most 1000 and keeps their order at the front of READY;
        a larger recovery puts later slices ahead of earlier ones.
        """
        return settling.recover_expired(self._store, queue, limit)

    # -- control: revoke and expiry (control.py) --------------------------------------------------

    @reports_lost_connection
    def revoke(
        self,
        queue: str,
        message_id: str,
        *,
        terminate: bool = False,
        result_ttl: float = DEFAULT_RESULT_TTL,
    ) -> RevokeOutcome:
        """revoke.lua (after an HGET of the owner with ``terminate``); REVOKED stored if removed."""
        return control.revoke(self._store, queue, message_id, terminate, result_ttl)

    @reports_lost_connection
    def end(
        self, delivery: Delivery, *, status: EndStatus, result_ttl: float = DEFAULT_RESULT_TTL
    ) -> bool:
        """store_result and end.lua in one round trip; fenced like :meth:`ack`."""
        return control.end(self._store, delivery, status, result_ttl)

    @reports_lost_connection
    def wait_terminations(
        self, worker_id: str, queues: Sequence[str], *, timeout: float
    ) -> list[str]:
        """BLPOP on the worker's termination list of each queue, chunked by ``max_block``."""
        names = as_queue_list(queues)
        return control.wait_terminations(
            self._store, worker_id, names, timeout, self._waiter.max_block
        )

    # -- limits (limits.py) ----------------------------------------------------------------------

    @reports_lost_connection
    def set_queue_limit(self, queue: str, *, max_in_flight: int | None) -> None:
        """Cap PROCESSING of ``queue`` across all workers (``None`` removes the cap).

        Kept in the queue's ``meta`` hash and read by every reserve; raising or removing the
        cap wakes reserves blocked on the old one.
        """
        limits.set_queue_limit(self._store, queue, max_in_flight)

    @reports_lost_connection
    def pause(self, queue: str) -> bool:
        """Set the queue's pause flag in ``meta``; reserve.lua hands out nothing while it is set."""
        return limits.pause(self._store, queue)

    @reports_lost_connection
    def resume(self, queue: str) -> bool:
        """Clear the pause flag and wake blocked reserves through the queue's marker."""
        return limits.resume(self._store, queue)

    @reports_lost_connection
    def paused(self, queue: str) -> bool:
        """Whether the queue's pause flag is set (one HEXISTS)."""
        return limits.paused(self._store, queue)

    @reports_lost_connection
    def acquire_rate_limit(self, key: str, *, limit: int, period: float) -> float:
        """One grant of the shared limiter ``key`` (``0.0``), or the seconds until one is possible.

        A sliding-window log in one script on the limiter's own key, timed by the server's
        clock (or the test clock).
        """
        return limits.acquire_rate_limit(self._store, key, limit=limit, period=period)

    # -- results (results.py) --------------------------------------------------------------------

    @reports_lost_connection
    def store_result(self, result: TaskResult, *, ttl: float = DEFAULT_RESULT_TTL) -> None:
        """Keep ``result`` for ``ttl`` seconds of the server's real time; wakes every waiter.

        With a test clock the result also expires when that clock passes ``now + ttl``.
        ``ttl <= 0`` stores nothing (and deletes an earlier result).
        """
        results.store_call(self._store, result, ttl)

    @reports_lost_connection
    def get_result(self, message_id: str, *, timeout: float | None = 0.0) -> TaskResult | None:
        """The result of ``message_id``, waiting up to ``timeout`` s (``None``: forever).

        LINDEX, then BLMOVE rotations of the result list in chunks of at most ``max_block``:
        any number of waiters, no polling (see ``results.py``).
        """
        return results.get(
            self._store, message_id, timeout=timeout, max_block=self._waiter.max_block
        )

    @reports_lost_connection
    def forget_result(self, message_id: str) -> None:
        """Delete the result of ``message_id``, if any."""
        results.forget(self._store, message_id)

    @reports_lost_connection
    def set_task_state(self, state: TaskState, *, ttl: float = DEFAULT_RESULT_TTL) -> None:
        """One ``SET`` with a TTL on ``<prefix>:task_state:{<id>}``; the latest write wins."""
        results.set_state(self._store, state, ttl)

    @reports_lost_connection
    def get_task_state(self, message_id: str) -> TaskState | None:
        """One ``GET`` of the task's state key."""
        return results.get_state(self._store, message_id)

    # -- workers (workers.py) --------------------------------------------------------------------

    @reports_lost_connection
    def send_heartbeat(self, worker: WorkerInfo) -> None:
        """Record that ``worker`` is alive now (server time) in each of its queues."""
        workers.send_heartbeat(self._store, worker)

    @reports_lost_connection
    def list_alive_workers(self, *, within: float, queue: str | None = None) -> list[WorkerInfo]:
        """Workers heard from within ``within`` seconds, each once, ``last_seen`` filled in."""
        return workers.list_alive(self._store, within=within, queue=queue)

    @reports_lost_connection
    def forget_worker(self, worker: WorkerInfo) -> None:
        """Drop ``worker``'s liveness records (clean shutdown)."""
        workers.forget(self._store, worker)

    @reports_lost_connection
    def expire_dead_workers(
        self, queue: str, *, within: float, reaper: str | None = None
    ) -> list[str]:
        """Remove workers silent for more than ``within`` s; their leases expire now.

        With a ``reaper``, only once it has itself heartbeated without a gap for ``within``.
        """
        return workers.expire_dead(self._store, queue, within=within, reaper=reaper)

    # -- monitoring and admin (admin.py) ---------------------------------------------------------

    @reports_lost_connection
    def queues(self) -> list[str]:
        """Every queue that ever received a message, sorted."""
        return admin.queues(self._store)

    @reports_lost_connection
    def counts(self, queue: str) -> QueueCounts:
        """Messages per state, from one pipeline of LLEN/ZCARD."""
        return admin.counts(self._store, queue)

    @reports_lost_connection
    def history(self, queue: str, *, minutes: int = 60) -> list[MinuteCounts]:
        """Outcomes per minute from the queue's bounded history hash; one round trip."""
        return history.history(self._store, queue, minutes)

    @reports_lost_connection
    def queue_stats(self, queue: str, *, minutes: int = 60) -> QueueStats:
        """Counts, history and the pause flag in one pipelined round trip."""
        return history.queue_stats(self._store, queue, minutes)

    @reports_lost_connection
    def message_info(self, queue: str, message_id: str) -> MessageInfo | None:
        """What ``queue`` holds about ``message_id``: one MULTI of reads on its hash tag."""
        return history.message_info(self._store, queue, message_id)

    @reports_lost_connection
    def list_open_chords(self, queue: str, *, limit: int = 100) -> OpenChords:
        """The newest waiting and failed chords of ``queue``: one chords.lua call."""
        return chord_index.list_open_chords(self._store, queue, limit=limit)

    @reports_lost_connection
    def chord_info(
        self, queue: str, chord_id: str, *, offset: int = 0, limit: int = 100
    ) -> ChordDetail | None:
        """The open chord ``chord_id`` with a window of its members: one chords.lua call."""
        return chord_index.chord_info(self._store, queue, chord_id, offset=offset, limit=limit)

    @reports_lost_connection
    def list_dead(self, queue: str, *, offset: int = 0, limit: int = 100) -> list[DeadLetter]:
        """DEAD messages, most recent first, with their reasons."""
        return admin.list_dead(self._store, queue, offset=offset, limit=limit)

    @reports_lost_connection
    def requeue_dead(self, queue: str, ids: Sequence[str] | None = None) -> int:
        """Move DEAD messages (all, or ``ids``) back to READY with fresh counters."""
        return admin.requeue_dead(self._store, queue, ids)

    @reports_lost_connection
    def purge(self, queue: str) -> int:
        """Delete READY and SCHEDULED messages in bounded script calls; returns how many."""
        return admin.purge(self._store, queue)

    @reports_lost_connection
    def purge_dead(self, queue: str) -> int:
        """Delete DEAD messages in bounded script calls; returns how many."""
        return admin.purge_dead(self._store, queue)


def _check_reserve_args(lease: float, limit: int) -> None:
    if lease <= 0:
        raise ValueError(f"lease must be positive, got {lease!r}")
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit!r}")

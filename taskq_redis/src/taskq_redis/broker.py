"""``RedisBroker``: the taskq storage contract on Redis, one Lua script per state change.

This module is the contract's front: lifecycle, producing, reserving and acking. The other
operations are mixed in from the module with their job: ``settling.py`` (retry, postpone,
dead, leases, release, recovery), ``flowing.py`` (workflow steps), ``control.py`` (revoke,
expiry, terminations), ``limits.py`` (queue cap, pause, rate limiters), ``results.py``,
``workers.py`` (liveness), ``history.py`` (counts and history) and ``admin.py`` (operator
actions). Every one of them talks to Redis through the store's runner (``runner.py``); scripts
live in ``lua/`` and their headers are the specification.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Self

from taskq_core.broker import DEFAULT_RESULT_TTL, as_queue_list, outcomes_of
from taskq_core.capabilities import Capability, ChordIndex, FullBroker, Workflows
from taskq_core.errors import ConfigurationError
from taskq_redis import periodic, producing, settling
from taskq_redis.admin import AdminOperations
from taskq_redis.aio import RedisAsyncProducer
from taskq_redis.chord_index import ChordIndexOperations
from taskq_redis.connection import (
    MAX_BLOCK_SECONDS,
    async_client_from_url,
    block_limit,
    broker_options,
    check_server,
    client_from_url,
    ping_once,
)
from taskq_redis.control import ControlOperations
from taskq_redis.failures import reports_lost_connection
from taskq_redis.flowing import FlowOperations
from taskq_redis.history import MonitoringOperations
from taskq_redis.keys import DEFAULT_PREFIX, check_prefix
from taskq_redis.limits import LimitOperations
from taskq_redis.reserving import IdleReserves, reserve_blocking
from taskq_redis.results import ResultOperations
from taskq_redis.servers import sentinels_of
from taskq_redis.settling import SettlingOperations
from taskq_redis.store import Store
from taskq_redis.waiting import MarkerWaiter
from taskq_redis.workers import WorkerOperations

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import redis
    import redis.asyncio

    from taskq_core.clock import Clock
    from taskq_core.schemas import (
        Delivery,
        Message,
        TaskResult,
    )
    from taskq_core.unique import UniqueClaim


class RedisBroker(
    SettlingOperations,
    FlowOperations,
    ControlOperations,
    LimitOperations,
    ResultOperations,
    WorkerOperations,
    MonitoringOperations,
    ChordIndexOperations,
    AdminOperations,
    FullBroker,
):
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
    #: Capabilities the class implements that this broker's server cannot give (Cluster).
    withheld_capabilities: frozenset[type[Capability]] = frozenset()
    #: Where they are withheld, for the one-line error of a feature that needs one.
    withheld_where = "on this server"

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
        self._waiter = MarkerWaiter(self._store.redis, block_limit(client, max_block))
        self._idle: IdleReserves = {}
        self._connected = False
        if self._store.redis.cluster:
            # flow.lua names keys of several queues and results: one slot it is not.
            self.withheld_capabilities = frozenset({Workflows, ChordIndex})
            self.withheld_where = "on a Redis Cluster (see docs/redis.md)"

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
            for sentinel in sentinels_of(self.client):
                sentinel.close()
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


def _check_reserve_args(lease: float, limit: int) -> None:
    if lease <= 0:
        raise ValueError(f"lease must be positive, got {lease!r}")
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit!r}")

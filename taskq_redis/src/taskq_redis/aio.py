"""The Redis backend's asyncio producer: the same scripts and waits on ``redis.asyncio``.

Sends run send.lua/send_many.lua through the plan the sync path runs
(:class:`~taskq_redis.producing.WritePlan`: same calls, same queue announcements, same reading
of the replies), pipelined in one round trip; a call that meets ``NOSCRIPT`` runs again once
the script is loaded. Result waits are the rotation of ``results.py``: LINDEX, then
``BLMOVE key key RIGHT RIGHT`` in chunks of at most ``max_block``, each on its own connection
of the running loop's pool, so a hundred waiting coroutines hold a hundred connections and no
thread.

Connections belong to the event loop that opened them, so there is one ``redis.asyncio``
client per loop, built on first use with the sync client's URL and options. ``aclose()`` closes
the running loop's client; the broker's ``close()`` closes the others on their own loops and
forgets those of loops that have already closed.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any

from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.exceptions import NoScriptError, RedisClusterException, ResponseError

from taskq_core.aio import AsyncProducer
from taskq_core.errors import BrokerUnavailable
from taskq_redis import results
from taskq_redis.failures import areports_lost_connection, broker_full, describe, one_line
from taskq_redis.keys import result_key
from taskq_redis.producing import (
    WritePlan,
    stale_result_keys,
    stale_result_reads,
    steady_call,
)
from taskq_redis.runner import SCRIPT_RELOADS
from taskq_redis.servers import sentinels_of

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Callable, Sequence

    import redis.asyncio

    from taskq_core.schemas import Message, TaskResult
    from taskq_redis.runner import Command
    from taskq_redis.store import Store


class RedisAsyncProducer(AsyncProducer):
    """The asyncio producer of one :class:`~taskq_redis.broker.RedisBroker`.

    Args:
        store: The broker's store: key prefix, test clock, scripts' digests, announced queues.
        make_client: Builds a ``redis.asyncio`` client; called once per event loop.
        max_block: Longest single BLMOVE of a result wait, in seconds.
    """

    def __init__(
        self, store: Store, make_client: Callable[[], redis.asyncio.Redis], max_block: float
    ) -> None:
        self._store = store
        self._make_client = make_client
        self._max_block = max_block
        #: Event loop -> its client, and the async generator that closes it with the loop.
        self._clients: dict[
            asyncio.AbstractEventLoop, tuple[redis.asyncio.Redis, AsyncGenerator[None, None]]
        ] = {}
        self._lock = threading.Lock()
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def client(self) -> redis.asyncio.Redis | None:
        """The running loop's client, if it has one yet (for error messages)."""
        entry = self._clients.get(asyncio.get_running_loop())
        return None if entry is None else entry[0]

    async def _client(self) -> redis.asyncio.Redis:
        """The running loop's client, built on first use.

        Its closing is tied to the loop's end: an async generator parked on the loop is closed
        by ``asyncio.run`` (``loop.shutdown_asyncgens()``) and closes the client then, so a
        program that never calls ``aclose()`` leaves no connection open.

        A cluster client learns the slot map (``initialize()``, which redis-py runs once under
        a lock and then skips) before any command: first used by many coroutines at once
        without it, redis-py's asyncio cluster client closes connections that other coroutines
        are using (40 concurrent result waits failed on a fresh client).
        """
        loop = asyncio.get_running_loop()
        entry = self._clients.get(loop)
        if entry is None:
            client = self._make_client()
            lifetime = self._lifetime(loop, client)
            with self._lock:
                for gone in [other for other in self._clients if other.is_closed()]:
                    del self._clients[gone]
                self._clients[loop] = (client, lifetime)
            await anext(lifetime)
        else:
            client = entry[0]
        if isinstance(client, AsyncRedisCluster):
            try:
                await client.initialize()
            except RedisClusterException as exc:  # no seed node answered
                nodes = describe(client).removeprefix("cluster ")
                message = f"cannot reach the Redis Cluster at {nodes}: {one_line(exc)}"
                raise BrokerUnavailable(message) from exc
        return client

    async def _lifetime(
        self, loop: asyncio.AbstractEventLoop, client: redis.asyncio.Redis
    ) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            with self._lock:
                if self._clients.get(loop, (None,))[0] is client:
                    del self._clients[loop]
            await _close(client)

    @areports_lost_connection
    async def asend(
        self, message: Message, *, eta: float | None = None, replace_result: bool = False
    ) -> bool:
        """Write ``message`` (to SCHEDULED until ``eta``) with one script call; one round trip.

        In the steady state (``producing.steady_call``) the call is one bare EVALSHA, as in
        the sync path; otherwise it goes through :meth:`asend_batch`'s plan.
        """
        call = None if replace_result else steady_call(self._store, message, eta, False)
        if call is None:
            return (await self.asend_batch([message], eta=eta, replace_result=replace_result))[0]
        client = await self._client()
        try:
            return bool(await self._run(client, self._store.redis.scripts.command(*call)))
        except ResponseError as exc:
            if (full := broker_full(exc, "the send")) is None:
                raise
            raise full from exc

    @areports_lost_connection
    async def asend_batch(
        self, messages: Sequence[Message], *, eta: float | None = None, replace_result: bool = False
    ) -> list[bool]:
        """Write every message with send_many.lua per queue and 1000 messages; one round trip."""
        if not messages:
            return []
        if replace_result and self._store.redis.cluster:
            client = await self._client()
            reads = stale_result_reads(self._store, messages)
            held = await self._pipeline(client, reads)
            for key in stale_result_keys(self._store, messages, held):
                await client.delete(key)
            replace_result = False
        plan = WritePlan(self._store, [(message, eta) for message in messages], replace_result)
        return plan.outcome(await self._batch(list(plan.commands())))

    @areports_lost_connection
    async def aget_result(
        self, message_id: str, *, timeout: float | None = 0.0
    ) -> TaskResult | None:
        """LINDEX, then BLMOVE rotations until the result is there or ``timeout`` has passed."""
        client = await self._client()
        loop = asyncio.get_running_loop()
        key = result_key(self._store.prefix, message_id)
        give_up = None if timeout is None else loop.time() + max(0.0, timeout)
        found = await self._current(client, key, await client.lindex(key, 0))
        while found is None:
            block = results.block_for(give_up, loop.time(), self._max_block)
            if block is None:
                return None
            rotated = await client.blmove(key, key, block, "RIGHT", "RIGHT")  # type: ignore[arg-type]
            found = await self._current(client, key, rotated)
        return found

    @areports_lost_connection
    async def aforget_result(self, message_id: str) -> None:
        """Delete the result of ``message_id``; waiters keep waiting for a new one."""
        await (await self._client()).delete(result_key(self._store.prefix, message_id))

    async def aclose(self) -> None:
        """Close the running loop's client; the next call on this loop opens a new one."""
        with self._lock:
            entry = self._clients.pop(asyncio.get_running_loop(), None)
        if entry is not None:
            await entry[1].aclose()

    def close(self) -> None:
        """Close every loop's client on its own loop; forget those of closed loops."""
        with self._lock:
            entries = list(self._clients.items())
            self._clients.clear()
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for loop, (client, _) in entries:
            if loop.is_closed():
                continue
            if loop is running:
                task = loop.create_task(_close(client))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
            else:
                asyncio.run_coroutine_threadsafe(_close(client), loop)

    async def _current(
        self, client: redis.asyncio.Redis, key: str, element: bytes | str | None
    ) -> TaskResult | None:
        found, expired = results.decode(self._store, key, element)
        if expired:
            await client.lrem(key, 0, element)  # type: ignore[arg-type]  # bytes work too
        return found

    async def _run(self, client: redis.asyncio.Redis, command: Command) -> Any:
        """Run one command; a script call that meets ``NOSCRIPT`` runs again once loaded."""
        try:
            return await client.execute_command(*command)  # type: ignore[no-untyped-call]
        except NoScriptError:
            for body in self._store.redis.scripts.bodies([command]):
                await client.script_load(body)
            return await client.execute_command(*command)  # type: ignore[no-untyped-call]

    async def _batch(self, commands: list[Command]) -> list[Any]:
        """Run ``commands`` in one pipeline; error replies in place.

        ``NOSCRIPT`` is read by the runner's script registry: the calls that met it did not
        run, and run again, in their order, once their scripts are loaded.
        """
        client = await self._client()
        scripts = self._store.redis.scripts
        replies = await self._pipeline(client, commands)
        for _ in range(SCRIPT_RELOADS):
            missing = scripts.missing(commands, replies)
            if not missing:
                break
            again = [commands[at] for at in missing]
            for body in scripts.bodies(again):
                await client.script_load(body)
            for at, reply in zip(missing, await self._pipeline(client, again), strict=True):
                replies[at] = reply
        return replies

    @staticmethod
    async def _pipeline(client: redis.asyncio.Redis, commands: list[Command]) -> list[Any]:
        pipe = client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        return list(await pipe.execute(raise_on_error=False))


async def _close(client: redis.asyncio.Redis) -> None:
    """Close ``client`` and, behind a Sentinel URL, its clients of the Sentinels."""
    await client.aclose()
    for sentinel in sentinels_of(client):
        await sentinel.aclose()

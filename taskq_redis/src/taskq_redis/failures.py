"""Where a client connects, and redis-py's errors as one-line taskq errors.

Every broker method is wrapped by :func:`reports_lost_connection` (the asyncio producer's by
:func:`areports_lost_connection`): a connection failure that outlived the retries becomes one
``BrokerUnavailable`` line naming the server, Redis' out-of-memory reply one ``BrokerFullError``
line; redis-py's own error stays chained for debugging, and the CLI prints only the line.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import redis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.exceptions import OutOfMemoryError, RedisError, ResponseError
from redis.sentinel import MasterNotFoundError

from taskq_core.errors import BrokerFullError, BrokerUnavailable, TaskqError
from taskq_redis.servers import LazyCluster

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

P = ParamSpec("P")
R = TypeVar("R")


def connection_kwargs(client: Any) -> Mapping[str, Any]:
    """The connection settings of ``client`` (a cluster client keeps them on its nodes manager)."""
    if isinstance(client, LazyCluster):
        return client.connection_kwargs
    pool = getattr(client, "connection_pool", None)
    if pool is not None:
        return pool.connection_kwargs  # type: ignore[no-any-return]
    manager = getattr(client, "nodes_manager", None)
    return getattr(manager, "connection_kwargs", {}) if manager is not None else {}


def describe(client: Any) -> str:
    """Where ``client`` connects: ``host:port``, the unix socket path, or the servers' list."""
    where = getattr(client, "taskq_where", None)
    if where is not None:
        return str(where)
    if isinstance(client, redis.RedisCluster | AsyncRedisCluster):
        nodes = client.get_primaries() or client.nodes_manager.startup_nodes.values()
        return "cluster " + ",".join(sorted(node.name for node in nodes))
    kwargs = connection_kwargs(client)
    if kwargs.get("path"):
        return str(kwargs["path"])
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"


def one_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message (its type's name when it has none).

    A ``MasterNotFoundError`` keeps only its own sentence: redis-py appends the repr of every
    Sentinel client it asked (pools, retry objects), which explains nothing to the reader.
    """
    text = str(exc).strip().splitlines()
    if not text:
        return type(exc).__name__
    if isinstance(exc, MasterNotFoundError):
        found = text[0].split(" : ", 1)[0]
        return f"{found} (each Sentinel was unreachable or does not monitor that service)"
    return text[0]


def reports_lost_connection(method: Callable[P, R]) -> Callable[P, R]:
    """Turn a connection failure that outlived the retries into one ``BrokerUnavailable`` line.

    For methods of an object with a ``client`` attribute (the broker). Redis' out-of-memory
    reply becomes one ``BrokerFullError`` line. redis-py's own error stays chained for
    debugging; the CLI prints only the line.
    """

    @functools.wraps(method)
    def translated(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except _TRANSLATED as exc:
            _raise_taskq_error(exc, args)
            raise

    return translated


def areports_lost_connection(
    method: Callable[P, Coroutine[Any, Any, R]],
) -> Callable[P, Coroutine[Any, Any, R]]:
    """:func:`reports_lost_connection` for coroutine methods (the asyncio producer)."""

    @functools.wraps(method)
    async def translated(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except _TRANSLATED as exc:
            _raise_taskq_error(exc, args)
            raise

    return translated


#: redis-py's errors :func:`taskq_error` may translate.
_TRANSLATED = (redis.ConnectionError, redis.TimeoutError, ResponseError)


def _raise_taskq_error(exc: RedisError, args: tuple[object, ...]) -> None:
    """Raise ``exc``'s taskq error, chained to it; return when it has none.

    ``args`` are the wrapped method's arguments: the first is the broker, whose ``client``
    names the server in the message.
    """
    error = taskq_error(exc, getattr(args[0], "client", None) if args else None)
    if error is not None:
        raise error from exc


def taskq_error(exc: RedisError, client: Any) -> TaskqError | None:
    """The one-line taskq error for a redis-py error; ``None`` when it is not translated.

    A lost connection becomes ``BrokerUnavailable`` naming where ``client`` connects, Redis'
    out-of-memory reply ``BrokerFullError``; other error replies stay as they are.
    """
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        where = describe(client) if client is not None else "?"
        return BrokerUnavailable(f"lost Redis at {where}: {one_line(exc)}")
    return broker_full(exc, "the command")


def broker_full(exc: Exception, refused: str) -> BrokerFullError | None:
    """A :class:`BrokerFullError` for Redis' out-of-memory reply ``exc``; ``None`` for others.

    Args:
        exc: An error reply.
        refused: What Redis refused, for the message ("the send").
    """
    if not isinstance(exc, OutOfMemoryError) and not str(exc).startswith("OOM "):
        return None
    return BrokerFullError(
        f"Redis is out of memory (used memory > maxmemory) and refused {refused}; nothing of it "
        "was written: let workers drain the queues, purge some, or raise maxmemory"
    )

"""From a URL to a robust redis-py client, and the checks ``connect()`` runs.

Robustness lives in the client: every command retries ``ConnectionError``, ``TimeoutError``
and ``BusyLoadingError`` (Redis loading its AOF after a restart) with exponential backoff and
full jitter, so a Redis restart looks like a slow command, not a crash. The socket timeout is
longer than the longest blocking ``BZPOPMIN`` chunk, so an idle worker's wait is never mistaken
for a dead connection.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import redis
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.exceptions import AuthenticationError, BusyLoadingError, RedisError, ResponseError
from redis.retry import Retry

from taskq_core.clock import Clock
from taskq_core.errors import BrokerUnavailable, ConfigurationError
from taskq_core.urls import redact_url
from taskq_redis.codec import text
from taskq_redis.failures import connection_kwargs, describe, one_line
from taskq_redis.servers import (
    CLUSTER_SCHEMES,
    SENTINEL_SCHEMES,
    URL_OPTIONS,
    cluster_client,
    sentinel_client,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    import redis.asyncio

log = logging.getLogger("taskq.redis")

SCHEMES = ("redis", "rediss", "unix", *CLUSTER_SCHEMES, *SENTINEL_SCHEMES)

#: Longest single ``BZPOPMIN`` of an idle worker, in seconds: short enough that a half-open
#: connection is noticed (BullMQ caps its block at 10 s for that reason), long enough that an
#: idle worker sends well under one command per second.
MAX_BLOCK_SECONDS = 5.0

#: Socket timeout of clients built from a URL, in seconds: above MAX_BLOCK_SECONDS so a
#: blocking wait never times out the socket.
DEFAULT_SOCKET_TIMEOUT_SECONDS = MAX_BLOCK_SECONDS + 5.0

#: Retries of a failed command; with the backoff below they span roughly 3 s, the time a
#: small Redis needs to restart and reload.
COMMAND_RETRIES = 6
BACKOFF_BASE_SECONDS = 0.05
BACKOFF_CAP_SECONDS = 2.0

#: Oldest Redis with everything the scripts use (LPOP count, ZADD GT/LT).
MIN_REDIS_VERSION = (6, 2)

#: How to write a password that holds URL delimiters.
_ESCAPE_HINT = (
    "percent-encode '@', ':', '/', '?' and '#' in the user name and password "
    "(e.g. '#' as %23, '/' as %2F), or give them as ?username=...&password=..."
)

_RETRIED_ERRORS = (redis.ConnectionError, redis.TimeoutError, BusyLoadingError)


def command_retry() -> Retry:
    """The retry policy of every client taskq builds: exponential backoff with full jitter."""
    backoff = ExponentialWithJitterBackoff(cap=BACKOFF_CAP_SECONDS, base=BACKOFF_BASE_SECONDS)
    return Retry(backoff, COMMAND_RETRIES, supported_errors=_RETRIED_ERRORS)


def _fail(url: str, why: str) -> ConfigurationError:
    return ConfigurationError(f"bad Redis URL {redact_url(url)!r}: {why}")


def split_url(url: str) -> tuple[str, str | None]:
    """Check ``url`` and take the taskq-only ``prefix`` option out of it.

    Returns:
        The URL redis-py should see, and the key prefix the URL asked for (or ``None``).

    Raises:
        ConfigurationError: unknown scheme, bad port or database, unknown query option.
    """
    try:
        parts = urlsplit(url)
        after_host = url.split("//", 1)[1][len(parts.netloc) :] if "//" in url else url
        if "@" in after_host and "@" not in parts.netloc:
            # The user information ended early at a "/", "?" or "#" in the password; the
            # parser's own messages would quote pieces of it.
            raise _fail(url, _ESCAPE_HINT)
        port = parts.port
    except ValueError:
        # urllib's messages quote the text it choked on, which may be part of a password.
        raise _fail(url, f"no valid host and port; {_ESCAPE_HINT}") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise _fail(url, f"scheme must be one of {', '.join(s + '://' for s in SCHEMES)}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    unknown = sorted({name for name, _ in query} - URL_OPTIONS)
    if unknown:
        raise _fail(url, f"unknown option {unknown[0]!r}; known: {', '.join(sorted(URL_OPTIONS))}")
    options = dict(query)
    prefix = options.pop("prefix", None)
    if scheme == "unix":
        if not parts.path:
            raise _fail(url, "unix:// needs a socket path, e.g. unix:///run/redis.sock?db=0")
    else:
        if not parts.hostname:
            raise _fail(url, "no host")
        database = parts.path.strip("/")
        if database and not database.isdigit():
            raise _fail(url, f"database must be a number, got {database!r}")
        if port == 0:
            raise _fail(url, "port 0")
    if "db" in options and not options["db"].isdigit():
        raise _fail(url, f"db must be a number, got {options['db']!r}")
    # Rebuilt by hand: urlunsplit would turn "unix:///path" into "unix:/path".
    base = url.split("?", 1)[0].split("#", 1)[0]
    return (f"{base}?{urlencode(options)}" if options else base), prefix


def client_from_url(url: str) -> tuple[redis.Redis, str | None]:
    """Build the client for ``url`` (no connection is opened yet) and the prefix it asks for.

    ``rediss://`` turns TLS on, ``unix://`` uses a socket path; user, password, database and
    socket options come from the URL as redis-py understands them.
    """
    scheme = url.partition("://")[0].lower()
    if scheme in CLUSTER_SCHEMES:
        return cluster_client(url, _defaults(), command_retry())
    if scheme in SENTINEL_SCHEMES:
        return sentinel_client(url, _defaults(), command_retry())
    redis_url, prefix, defaults = client_settings(url)
    try:
        client = redis.Redis.from_url(redis_url, retry=command_retry(), **defaults)
    except (ValueError, TypeError) as exc:
        raise _fail(url, str(exc)) from None
    return client, prefix


def async_client_from_url(url: str) -> redis.asyncio.Redis:
    """The ``redis.asyncio`` twin of :func:`client_from_url`: same settings, same retries.

    Build one per event loop: its connections belong to the loop that opened them.
    """
    import redis.asyncio
    import redis.asyncio.retry

    backoff = ExponentialWithJitterBackoff(cap=BACKOFF_CAP_SECONDS, base=BACKOFF_BASE_SECONDS)
    retry = redis.asyncio.retry.Retry(backoff, COMMAND_RETRIES, supported_errors=_RETRIED_ERRORS)
    scheme = url.partition("://")[0].lower()
    if scheme in CLUSTER_SCHEMES:
        return cluster_client(url, _defaults(), retry, asyncio=True)[0]  # type: ignore[no-any-return]
    if scheme in SENTINEL_SCHEMES:
        return sentinel_client(url, _defaults(), retry, asyncio=True)[0]  # type: ignore[no-any-return]
    redis_url, _, defaults = client_settings(url)
    try:
        return redis.asyncio.Redis.from_url(redis_url, retry=retry, **defaults)
    except (ValueError, TypeError) as exc:
        raise _fail(url, str(exc)) from None


def client_settings(url: str) -> tuple[str, str | None, dict[str, Any]]:
    """What both clients are built from: redis-py's URL, the key prefix and the options.

    Raises:
        ConfigurationError: the URL is wrong (see :func:`split_url`).
    """
    redis_url, prefix = split_url(url)
    defaults = _defaults()
    if urlsplit(redis_url).scheme.lower() == "unix":
        # A unix socket's connection class takes no TCP keepalive option (redis-py refuses it).
        del defaults["socket_keepalive"]
    if _checks_certificates(redis_url):
        # redis-py before 6.0 skips the hostname check unless asked; the URL may still say no.
        defaults["ssl_check_hostname"] = True
    return redis_url, prefix, defaults


def _defaults() -> dict[str, Any]:
    """Socket and retry settings of every client built from a URL."""
    return {
        "socket_timeout": DEFAULT_SOCKET_TIMEOUT_SECONDS,
        "socket_connect_timeout": 5.0,
        "socket_keepalive": True,
        "health_check_interval": 30,
        "retry_on_error": list(_RETRIED_ERRORS),
    }


def _checks_certificates(redis_url: str) -> bool:
    """Whether ``redis_url`` is TLS that verifies the server's certificate (``ssl_cert_reqs``)."""
    parts = urlsplit(redis_url)
    if parts.scheme.lower() != "rediss":
        return False
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    return options.get("ssl_cert_reqs", "required").lower() not in ("none", "cert_none")


def broker_options(options: dict[str, object]) -> tuple[str | None, Clock | None, float]:
    """Check ``RedisBroker.from_url``'s keyword options: ``prefix``, ``clock``, ``max_block``.

    Raises:
        ConfigurationError: an unknown option or a value of the wrong kind (one line).
    """
    prefix = options.pop("prefix", None)
    clock = options.pop("clock", None)
    max_block = options.pop("max_block", MAX_BLOCK_SECONDS)
    if options:
        raise ConfigurationError(
            f"unknown RedisBroker option {sorted(options)[0]!r}; known: prefix, clock, max_block"
        )
    if prefix is not None and not isinstance(prefix, str):
        raise ConfigurationError(f"prefix must be a string, got {prefix!r}")
    if clock is not None and not isinstance(clock, Clock):
        raise ConfigurationError(f"clock must have a now() method, got {clock!r}")
    if not isinstance(max_block, int | float) or max_block <= 0:
        raise ConfigurationError(
            f"max_block must be a positive number of seconds, got {max_block!r}"
        )
    return prefix, clock, float(max_block)


def block_limit(client: Any, max_block: float) -> float:
    """``max_block``, shortened when the client's socket timeout would cut the wait off."""
    socket_timeout = connection_kwargs(client).get("socket_timeout")
    if socket_timeout is None:
        return max_block
    return max(0.1, min(max_block, float(socket_timeout) - 1.0))


def ping_once(client: redis.Redis) -> None:
    """PING on a fresh connection without the backoff, so an unreachable Redis fails fast.

    Raises:
        ConfigurationError: the server refused the credentials (fails at once, no waiting).
        BrokerUnavailable: connection refused, DNS or TLS failure, or a timeout.
    """
    try:
        _ping_once(client)
    except AuthenticationError as exc:
        raise _refused(client, exc) from None
    except RedisError as exc:
        raise BrokerUnavailable(
            f"cannot reach Redis at {describe(client)}: {one_line(exc)}"
        ) from None


def _ping_once(client: redis.Redis) -> None:
    """:func:`ping_once` before its errors are translated (redis-py's errors escape)."""
    pool = getattr(client, "connection_pool", None)
    if pool is None or type(pool) is not redis.ConnectionPool:
        # A cluster or a Sentinel-managed primary: its own client finds the server (a Sentinel
        # setup asks its Sentinels first, once each, so an unreachable one fails fast).
        manager = getattr(pool, "sentinel_manager", None)
        if manager is not None:
            manager.discover_master(getattr(pool, "service_name", ""))
        client.ping()
        return
    settings = {**pool.connection_kwargs, "retry": Retry(NoBackoff(), 0)}
    try:
        connection = pool.connection_class(**settings)
    except TypeError:  # a connection class that does not take these settings (test doubles)
        client.ping()
        return
    try:
        connection.connect()
        connection.send_command("PING")
        connection.read_response()
    finally:
        connection.disconnect()


def _refused(client: redis.Redis, exc: AuthenticationError) -> ConfigurationError:
    """Wrong credentials are the user's to fix: waiting for the server would never help."""
    return ConfigurationError(
        f"Redis at {describe(client)} refused the URL's credentials: {one_line(exc)}"
    )


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:3] if part.isdigit())


def check_server(client: redis.Redis) -> None:
    """Refuse a Redis older than 6.2; warn when it may evict keys.

    Either check is skipped (logged at debug level) when the server refuses INFO or CONFIG,
    as managed services and ACL users often do.

    Raises:
        ConfigurationError: the server is older than 6.2.
    """
    where = describe(client)
    try:
        info: Mapping[str, Any] = client.info("server")
    except ResponseError as exc:
        log.debug("Redis at %s refused INFO (%s); skipping the version check", where, exc)
    else:
        versions = [str(part.get("redis_version", "")) for part in _per_node(info)]
        version = min(versions, key=lambda v: _version(v) if v else (99,))
        if version and _version(version) < MIN_REDIS_VERSION:
            raise ConfigurationError(
                f"Redis at {where} is version {version}; taskq needs 6.2 or newer"
            )
    try:
        reply: Mapping[Any, Any] = client.config_get("maxmemory-policy")
    except ResponseError as exc:
        log.debug("Redis at %s refused CONFIG GET (%s); skipping the eviction check", where, exc)
        return
    policy = next((text(value) for part in _per_node(reply) for value in part.values()), "")
    if policy and policy != "noeviction":
        log.warning(
            "Redis at %s has maxmemory-policy %s: under memory pressure it may silently delete "
            "queue keys and lose tasks; set maxmemory-policy noeviction",
            where,
            policy,
        )


def _per_node(reply: Mapping[Any, Any]) -> list[Mapping[Any, Any]]:
    """A reply of every node of a cluster (a dict per node), or the one reply of one server."""
    parts = list(reply.values())
    if parts and all(isinstance(part, dict) for part in parts):
        return parts
    return [reply]

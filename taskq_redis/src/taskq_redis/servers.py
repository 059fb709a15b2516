"""Clients for the URLs that name several servers: Redis Cluster and Sentinel.

``redis+cluster://[user:password@]host:port[,host:port...]/?prefix=...`` names seed nodes of a
cluster (any reachable one is enough; redis-py's ``RedisCluster`` learns the slot map from it
and follows ``MOVED``/``ASK`` redirections and failovers). ``redis+sentinel://[user:password@]
host:26379[,host:26379...]/service_name/db`` names Sentinels and the monitored primary's service
name; redis-py's ``Sentinel`` asks them for the current primary on every (re)connection, so a
failover is followed. ``rediss+`` turns TLS on for either (for Sentinel: to the primary; the
Sentinels' own TLS is ``?sentinel_ssl=true``). The user and password are the data servers';
``?sentinel_username=`` and ``?sentinel_password=`` authenticate to Sentinels.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, unquote

from redis.backoff import NoBackoff

from taskq_core.errors import ConfigurationError
from taskq_core.urls import redact_url

#: Schemes of a cluster's seed nodes, plain and TLS.
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
#: Schemes of a Sentinel-monitored primary, plain and TLS to the primary.
SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")

#: Query options a URL may carry besides ``prefix``; anything else is a typo worth an error.
URL_OPTIONS = frozenset(
    {
        "db",
        "prefix",
        "username",
        "password",
        "socket_timeout",
        "socket_connect_timeout",
        "socket_keepalive",
        "health_check_interval",
        "max_connections",
        "client_name",
        "protocol",
        "ssl_cert_reqs",
        "ssl_ca_certs",
        "ssl_certfile",
        "ssl_keyfile",
        "ssl_check_hostname",
    }
)

#: Options only a Sentinel URL takes.
SENTINEL_OPTIONS = frozenset({"sentinel_username", "sentinel_password", "sentinel_ssl"})

#: Connections per node of the asyncio cluster client unless the URL says ``max_connections``:
#: redis-py's asyncio pool default (its cluster client's own default is 100).
ASYNC_CLUSTER_CONNECTIONS = 2**31

#: Options whose text is a number or a flag, converted for redis-py's keyword arguments.
_FLOATS = ("socket_timeout", "socket_connect_timeout", "health_check_interval")
_INTS = ("max_connections", "protocol")
_FLAGS = ("socket_keepalive", "ssl_check_hostname", "sentinel_ssl")


class ServerList:
    """A multi-server URL taken apart: scheme, hosts, credentials, path and options."""

    def __init__(self, url: str, known_options: frozenset[str]) -> None:
        scheme, sep, rest = url.partition("://")
        if not sep:
            raise _fail(url, "no '://'")
        self.scheme = scheme.lower()
        rest, _, _fragment = rest.partition("#")
        rest, _, query = rest.partition("?")
        location, slash, path = rest.partition("/")
        userinfo, at, hosts = location.rpartition("@")
        if "@" in path:
            raise _fail(url, "percent-encode '@', ':', '/', '?' and '#' in the password")
        self.username: str | None = None
        self.password: str | None = None
        if at:
            user, colon, password = userinfo.partition(":")
            self.username = unquote(user) or None
            self.password = unquote(password) if colon else None
        self.hosts = [_host_port(url, part) for part in hosts.split(",") if part.strip()]
        if not self.hosts:
            raise _fail(url, "no host; give host:port[,host:port...]")
        self.path = [unquote(part) for part in path.split("/") if part] if slash else []
        pairs = parse_qsl(query, keep_blank_values=True)
        unknown = sorted({name for name, _ in pairs} - known_options)
        if unknown:
            raise _fail(
                url, f"unknown option {unknown[0]!r}; known: {', '.join(sorted(known_options))}"
            )
        self.options: dict[str, Any] = {}
        for name, value in pairs:
            self.options[name] = _convert(url, name, value)
        if "username" in self.options:
            self.username = self.options.pop("username")
        if "password" in self.options:
            self.password = self.options.pop("password")

    @property
    def tls(self) -> bool:
        """Whether the data connections use TLS (``rediss+...``)."""
        return self.scheme.startswith("rediss")


def _fail(url: str, why: str) -> ConfigurationError:
    return ConfigurationError(f"bad Redis URL {redact_url(url)!r}: {why}")


def _host_port(url: str, text: str) -> tuple[str, int]:
    host, colon, port = text.strip().rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise _fail(url, f"{text.strip()!r} is not host:port")
    return host.strip("[]"), int(port)


def _convert(url: str, name: str, value: str) -> Any:
    try:
        if name in _FLOATS:
            return float(value)
        if name in _INTS:
            return int(value)
    except ValueError:
        raise _fail(url, f"{name} must be a number, got {value!r}") from None
    if name in _FLAGS:
        return value.lower() in ("1", "true", "yes", "on")
    return value


def connection_options(servers: ServerList, defaults: dict[str, Any]) -> dict[str, Any]:
    """redis-py keyword arguments of the data connections: credentials, TLS and socket options."""
    options = {**defaults}
    options.pop("retry_on_error", None)
    for name, value in servers.options.items():
        if name not in SENTINEL_OPTIONS and name not in ("prefix", "db"):
            options[name] = value
    if servers.username is not None:
        options["username"] = servers.username
    if servers.password is not None:
        options["password"] = servers.password
    if servers.tls:
        options["ssl"] = True
        reqs = str(options.get("ssl_cert_reqs", "required")).lower()
        if reqs not in ("none", "cert_none"):
            options.setdefault("ssl_check_hostname", True)
    else:
        options.pop("ssl_check_hostname", None)
    return options


def cluster_client(
    url: str, defaults: dict[str, Any], retry: Any, *, asyncio: bool = False
) -> tuple[Any, str | None]:
    """A ``RedisCluster`` for a ``redis+cluster://`` URL, and the prefix it asks for.

    Both clients contact a seed node on first use, not here (the sync one through
    :class:`LazyCluster`), so a broker can be built while the cluster is down and a worker can
    wait for it as for a single server.

    Raises:
        ConfigurationError: the URL is wrong (one line).
    """
    module: Any = importlib.import_module("redis.asyncio.cluster" if asyncio else "redis.cluster")
    cluster_node, redis_cluster = module.ClusterNode, module.RedisCluster
    from redis.exceptions import RedisClusterException, RedisError

    from taskq_core.errors import BrokerUnavailable

    servers = ServerList(url, URL_OPTIONS - {"db"})
    if servers.path not in ([], ["0"]):
        raise _fail(url, "a cluster has only database 0; write redis+cluster://host:port/")
    prefix = servers.options.get("prefix")
    options = connection_options(servers, defaults)
    if asyncio:
        # Each waiting coroutine holds a connection (aio.py), as on a single server, whose
        # asyncio pool has no cap; the asyncio cluster client refuses the 101st command to a
        # node at once (MaxConnectionsError) unless told otherwise.
        options.setdefault("max_connections", ASYNC_CLUSTER_CONNECTIONS)
    nodes = [cluster_node(host, port) for host, port in servers.hosts]
    where = ",".join(f"{host}:{port}" for host, port in servers.hosts)

    def build() -> Any:
        try:
            return redis_cluster(startup_nodes=nodes, retry=retry, **options)
        except (RedisClusterException, RedisError) as exc:
            line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BrokerUnavailable(f"cannot reach the Redis Cluster at {where}: {line}") from None
        except (TypeError, ValueError) as exc:
            raise _fail(url, str(exc)) from None

    if asyncio:
        return build(), prefix
    return LazyCluster(build, where, options), prefix


class LazyCluster:
    """A sync ``RedisCluster`` built on first use; every attribute is the built client's.

    redis-py's sync cluster client asks a seed node for the slot map when it is created. Built
    lazily, a broker (and the app holding it) can be created while the cluster is down; the
    first call then raises ``BrokerUnavailable``, which a starting worker retries.

    Args:
        build: Creates the client (raises ``BrokerUnavailable`` when no seed node answers).
        where: The seed nodes, for messages.
        options: The connection settings of the client.
    """

    def __init__(self, build: Callable[[], Any], where: str, options: dict[str, Any]) -> None:
        self._build = build
        #: The connection settings the client is built with (socket timeout, TLS ...).
        self.connection_kwargs = options
        self._client: Any = None
        self._lock = threading.Lock()
        self.taskq_where = f"cluster {where}"

    def built(self) -> Any:
        """The client, created now if it was not yet."""
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._build()
                client = self._client
        return client

    def __getattr__(self, name: str) -> Any:
        return getattr(self.built(), name)

    def close(self) -> None:
        """Close the client's connections, if it was ever built."""
        if self._client is not None:
            self._client.close()


def sentinel_client(
    url: str, defaults: dict[str, Any], retry: Any, *, asyncio: bool = False
) -> tuple[Any, str | None]:
    """The primary of a ``redis+sentinel://`` URL's service, as a ``redis.Redis``.

    Its connections ask the Sentinels for the primary each time they connect, so after a
    failover they reach the new primary (redis-py's ``SentinelConnectionPool``).

    Raises:
        ConfigurationError: the URL is wrong (one line).
    """
    module: Any = importlib.import_module("redis.asyncio.sentinel" if asyncio else "redis.sentinel")

    servers = ServerList(url, URL_OPTIONS | SENTINEL_OPTIONS)
    if not servers.path or len(servers.path) > 2:
        raise _fail(url, "write redis+sentinel://host:26379[,host:26379]/service_name[/db]")
    service = servers.path[0]
    database = servers.path[1] if len(servers.path) == 2 else str(servers.options.get("db", 0))
    if not database.isdigit():
        raise _fail(url, f"database must be a number, got {database!r}")
    prefix = servers.options.get("prefix")
    options = connection_options(servers, defaults)
    retries: Any = importlib.import_module("redis.asyncio.retry" if asyncio else "redis.retry")
    sentinel_kwargs: dict[str, Any] = {
        "socket_timeout": options.get("socket_timeout"),
        "socket_connect_timeout": options.get("socket_connect_timeout"),
        # Each Sentinel is asked once per discovery: the next one is the retry.
        "retry": retries.Retry(NoBackoff(), 0),
    }
    for name in ("username", "password"):
        if f"sentinel_{name}" in servers.options:
            sentinel_kwargs[name] = servers.options[f"sentinel_{name}"]
    if servers.options.get("sentinel_ssl"):
        sentinel_kwargs["ssl"] = True
    try:
        sentinel = module.Sentinel(servers.hosts, sentinel_kwargs=sentinel_kwargs, **options)
        client = sentinel.master_for(service, db=int(database), retry=retry, **options)
    except (TypeError, ValueError) as exc:
        raise _fail(url, str(exc)) from None
    client.taskq_where = f"service {service} via {','.join(f'{h}:{p}' for h, p in servers.hosts)}"
    return client, prefix


def sentinels_of(client: Any) -> list[Any]:
    """The clients of the Sentinels behind a :func:`sentinel_client` (none for others).

    Closing the primary's client leaves their connections open: whoever closes it closes them.
    """
    if isinstance(client, LazyCluster):  # (asking it for an attribute would build it)
        return []
    manager = getattr(getattr(client, "connection_pool", None), "sentinel_manager", None)
    return list(getattr(manager, "sentinels", ())) if manager is not None else []

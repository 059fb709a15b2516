"""Entry point of taskq-redis: serves the Redis URL schemes (plain, TLS, unix, Cluster, Sentinel).

Imported when taskq first looks up a backend, so it imports nothing heavy: redis-py and the
broker load only when a Redis URL is actually used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskq_core.plugins import hookimpl

if TYPE_CHECKING:
    from taskq_core.broker import BaseBroker
    from taskq_core.hookspecs import RegisterBackend

SCHEMES = (
    "redis",
    "rediss",
    "unix",
    "redis+cluster",
    "rediss+cluster",
    "redis+sentinel",
    "rediss+sentinel",
)


def broker_from_url(url: str, **options: object) -> BaseBroker:
    """Backend factory: ``RedisBroker.from_url`` behind a lazy import."""
    from taskq_redis.broker import RedisBroker

    return RedisBroker.from_url(url, **options)


@hookimpl
def taskq_register_backends(register: RegisterBackend) -> None:
    """Register the Redis URL schemes."""
    for scheme in SCHEMES:
        register(scheme, broker_from_url)

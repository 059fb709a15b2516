"""taskq-redis: the taskq broker on Redis, every state transition one atomic Lua script.

``from taskq_redis import RedisBroker``. The import is lazy, so loading the plugin entry point
(``taskq_redis.plugin``) does not import redis-py.
"""

from __future__ import annotations

import importlib.metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskq_redis.broker import RedisBroker

#: The installed taskq-redis distribution's version, read from its package metadata.
__version__ = importlib.metadata.version("taskq-redis")

__all__ = ["RedisBroker", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "RedisBroker":
        from taskq_redis.broker import RedisBroker

        return RedisBroker
    raise AttributeError(f"module 'taskq_redis' has no attribute {name!r}")

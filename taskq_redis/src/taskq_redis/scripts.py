"""The Lua scripts, loaded from package data and registered once per client.

Each transition is one file in ``lua/``; ``lib.lua`` (shared helpers) is prepended to every
script so each stays a single EVAL body. ``register_script`` gives EVALSHA with a transparent
reload on ``NOSCRIPT`` (the script cache is emptied by a restart, a failover or ``SCRIPT
FLUSH``), and pipelines load missing scripts before they run.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    import redis
    from redis.commands.core import Script

#: Every transition script shipped in ``lua/``, one per state change.
SCRIPT_NAMES = (
    "send",
    "reserve",
    "ack",
    "retry",
    "dead",
    "extend_lease",
    "release",
    "recover_expired",
    "expire_workers",
    "promote",
    "requeue_dead",
    "purge",
    "purge_dead",
    "heartbeat",
    "forget_worker",
)

_LIBRARY = "lib"


@cache
def lua_source(name: str) -> str:
    """The text of ``lua/<name>.lua`` as shipped in the package."""
    return resources.files("taskq_redis").joinpath("lua", f"{name}.lua").read_text("utf-8")


@cache
def script_body(name: str) -> str:
    """What is sent to Redis for ``name``: ``lib.lua`` followed by the script itself."""
    return f"{lua_source(_LIBRARY)}\n{lua_source(name)}"


class Scripts:
    """The registered scripts of one client, called by name."""

    def __init__(self, client: redis.Redis) -> None:
        self._scripts: dict[str, Script] = {
            name: client.register_script(script_body(name)) for name in SCRIPT_NAMES
        }

    def __call__(
        self,
        name: str,
        keys: Sequence[str],
        args: Sequence[str | int | float],
        *,
        client: redis.Redis | redis.client.Pipeline | None = None,
    ) -> Any:
        """Run script ``name`` (on ``client``, a pipeline for instance, when given)."""
        return self._scripts[name](keys=keys, args=args, client=client)

"""The Lua scripts, loaded from package data and registered once per client.

Each transition is one file in ``lua/``; the ``lib.lua`` helpers it uses (picked by
``scriptlib.with_library``) are prepended to it so each stays a single EVAL body. A script
called on its own goes through redis-py's ``register_script``: EVALSHA with a transparent
reload on ``NOSCRIPT`` (the script cache is emptied by a restart, a failover or ``SCRIPT
FLUSH``). A script queued on a pipeline is a bare EVALSHA: redis-py's own pipeline support
would send ``SCRIPT EXISTS`` before every pipeline, a second round trip on the hot path (ack
with result, ack-and-reserve, heartbeats), so ``Store.pipelined`` reloads and re-sends the
calls that met ``NOSCRIPT`` instead.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from redis.exceptions import NoScriptError

from taskq_redis.direct import DirectCommands
from taskq_redis.scriptlib import with_library

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import redis
    from redis.client import Pipeline
    from redis.commands.core import Script

#: Every transition script shipped in ``lua/``, one per state change.
SCRIPT_NAMES = (
    "send",
    "send_many",
    "reserve",
    "ack",
    "ack_many",
    "retry",
    "postpone",
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
    "set_queue_limit",
    "store_result",
    "rate_limit",
    "claim_tick",
    "pause",
    "resume",
    "revoke",
    "end",
    "flow",
    "chords",
)

_LIBRARY = "lib"


@cache
def lua_source(name: str) -> str:
    """The text of ``lua/<name>.lua`` as shipped in the package."""
    return resources.files("taskq_redis").joinpath("lua", f"{name}.lua").read_text("utf-8")


@cache
def script_body(name: str) -> str:
    """What is sent to Redis for ``name``: the ``lib.lua`` helpers it uses, then the script."""
    return with_library(lua_source(_LIBRARY), lua_source(name))


class Scripts:
    """The registered scripts of one client, called by name."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        #: Single commands (and streams of them) on connections kept aside (``direct.py``).
        self.direct = DirectCommands(client)
        self._scripts: dict[str, Script] = {
            name: client.register_script(script_body(name)) for name in SCRIPT_NAMES
        }
        self._by_sha = {script.sha: script for script in self._scripts.values()}

    def __call__(
        self,
        name: str,
        keys: Sequence[str],
        args: Sequence[str | int | float],
        *,
        client: Pipeline | None = None,
    ) -> Any:
        """Run script ``name``, or queue it on ``client``, a pipeline of ``Store.pipelined``."""
        script = self._scripts[name]
        if client is not None:
            return client.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)  # type: ignore[no-untyped-call]
        try:
            return self.direct("EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            self._client.script_load(script.script)
            return self.direct("EVALSHA", script.sha, len(keys), *keys, *args)

    def sha(self, name: str) -> str:
        """The SHA1 digest script ``name`` is called by."""
        return str(self._scripts[name].sha)

    def load(self, shas: Iterable[str]) -> None:
        """SCRIPT LOAD the scripts with these SHA1 digests (after a ``NOSCRIPT``)."""
        for sha in dict.fromkeys(shas):
            self._client.script_load(self._by_sha[sha].script)

"""The Lua scripts, loaded from package data, and the registry that names them.

Each transition is one file in ``lua/``; the ``lib.lua`` helpers it uses (picked by
``scriptlib.with_library``) are prepended to it so each stays a single EVAL body. Every script
runs as a bare EVALSHA; Redis forgets its
script cache on a restart, a failover or ``SCRIPT FLUSH``, and the runner (``runner.py``) and
the asyncio producer (``aio.py``) then load the scripts that met ``NOSCRIPT`` and send exactly
those calls again (:meth:`ScriptRegistry.missing`), so every call runs once and a warm cache
costs one round trip, with no ``SCRIPT EXISTS`` in front.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from redis.exceptions import NoScriptError

from taskq_redis.scriptlib import with_library

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

#: Every transition script shipped in ``lua/``, one per state change.
SCRIPT_NAMES = (
    "send",
    "send_ready",
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


class ScriptRegistry:
    """Every script by name: its SHA1 digest, its body, and the EVALSHA command that runs it.

    Independent of any client, so the sync runner and the asyncio producer share one registry
    and one reading of ``NOSCRIPT`` (:meth:`missing`).
    """

    def __init__(self) -> None:
        self._sha = {name: _digest(script_body(name)) for name in SCRIPT_NAMES}
        self._body = {sha: script_body(name) for name, sha in self._sha.items()}
        self._heads: dict[tuple[str, tuple[str, ...], int], bytes] = {}

    def sha(self, name: str) -> str:
        """The SHA1 digest script ``name`` is called by."""
        return self._sha[name]

    def command(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> tuple[Any, ...]:
        """The EVALSHA command of one call of script ``name``."""
        return ("EVALSHA", self._sha[name], len(keys), *keys, *args)

    def packed(self, name: str, keys: Sequence[str], args: Sequence[str]) -> bytes:
        """The RESP of :meth:`command` for string arguments (UTF-8), ready to write.

        Everything up to the last key is packed once per script, key tuple and argument count
        and kept, so it is meant for KEYS that repeat from call to call (one queue's keys: a
        bounded set); per call only the arguments are packed, about a tenth of what packing
        the whole command costs redis-py.
        """
        shape = (name, tuple(keys), len(args))
        head = self._heads.get(shape)
        if head is None:
            words = ("EVALSHA", self._sha[name], str(len(keys)), *keys)
            head = b"*%d\r\n%s" % (len(words) + len(args), b"".join(map(_bulk, words)))
            self._heads[shape] = head
        return head + b"".join(map(_bulk, args))

    def missing(self, commands: Sequence[Sequence[Any]], replies: Sequence[Any]) -> list[int]:
        """Positions of the script calls among ``commands`` whose reply is ``NOSCRIPT``.

        Such a call did not run: once its script is loaded it can be sent again as it is.
        """
        return [
            at
            for at, reply in enumerate(replies)
            if isinstance(reply, NoScriptError) and commands[at][0] == "EVALSHA"
        ]

    def bodies(self, commands: Iterable[Sequence[Any]]) -> list[str]:
        """The bodies to SCRIPT LOAD for these EVALSHA commands, each once."""
        return [self._body[str(sha)] for sha in dict.fromkeys(cmd[1] for cmd in commands)]


def _bulk(value: str) -> bytes:
    """One RESP bulk string."""
    data = value.encode("utf-8")
    return b"$%d\r\n%s\r\n" % (len(data), data)


def _digest(body: str) -> str:
    return hashlib.sha1(body.encode("utf-8"), usedforsecurity=False).hexdigest()

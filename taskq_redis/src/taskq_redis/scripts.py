"""The Lua scripts, loaded from package data and registered once per client.

Each transition is one file in ``lua/``; the helpers of ``lib.lua`` it uses (and the helpers
those use) are prepended to it so each stays a single EVAL body. Only those: Redis runs every
top-level line of a script on every call, and defining all of ``lib.lua``'s ~30 helpers costs
about 5 µs of Redis time per call, more than the commands of a ``send``.

A script called on its own goes through redis-py's ``register_script``: EVALSHA with a
transparent reload on ``NOSCRIPT`` (the script cache is emptied by a restart, a failover or
``SCRIPT FLUSH``). A script queued on a pipeline is a bare EVALSHA: redis-py's own pipeline
support would send ``SCRIPT EXISTS`` before every pipeline, a second round trip on the hot path
(ack with result, ack-and-reserve, heartbeats), so ``Store.pipelined`` reloads and re-sends the
calls that met ``NOSCRIPT`` instead.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from redis.exceptions import NoScriptError

from taskq_redis.direct import DirectCommands

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
    """What is sent to Redis for ``name``: the helpers it needs, then the script itself."""
    source = lua_source(name)
    helpers = library_helpers()
    needed = _referenced(source, helpers)
    pending = list(needed)
    while pending:  # the helpers the needed helpers use, and so on
        for other in _referenced(helpers[pending.pop()], helpers):
            if other not in needed:
                needed.add(other)
                pending.append(other)
    chosen = [text for helper, text in helpers.items() if helper in needed]  # lib.lua's order
    return "".join(chosen) + "\n" + source


#: A top-level definition in ``lib.lua``: ``local function name`` or ``local name =``.
_DEFINITION = re.compile(r"local (?:function )?([A-Za-z_][A-Za-z0-9_]*)")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@cache
def library_helpers() -> dict[str, str]:
    """``lib.lua``'s top-level definitions by name, each with the comment lines above it."""
    source = lua_source(_LIBRARY)
    code = source[source.index("]]\n") + 3 :]  # after the header comment
    helpers: dict[str, str] = {}
    current: str | None = None
    comments: list[str] = []
    for line in code.splitlines(keepends=True):
        definition = _DEFINITION.match(line)
        if definition:
            current = definition.group(1)
            helpers[current] = "".join(comments) + line
            comments = []
        elif line.startswith("--"):
            comments.append(line)
        elif current is not None:
            helpers[current] += "".join(comments) + line
            comments = []
    return helpers


def _referenced(source: str, helpers: dict[str, str]) -> set[str]:
    """Names of ``helpers`` that appear as words in ``source``'s code (comments left out)."""
    code = _LINE_COMMENT.sub("", _BLOCK_COMMENT.sub("", source))
    return set(_WORD.findall(code)) & helpers.keys()


_BLOCK_COMMENT = re.compile(r"--\[\[.*?\]\]", re.DOTALL)
_LINE_COMMENT = re.compile(r"--[^\n]*")


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

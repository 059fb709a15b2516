"""The one way the Redis backend talks to Redis: a single call, a batch, or block-then-run.

Every operation module hands :class:`Runner` plain commands (tuples such as
``("HGET", key, field)``) and script calls (:meth:`Runner.script`), and gets replies read as
redis-py's ``execute_command`` reads them. Behind the three entry points:

* **One NOSCRIPT recovery.** Redis forgets its script cache on a restart, a failover or
  ``SCRIPT FLUSH``. A script call that meets ``NOSCRIPT`` did not run, so the runner loads the
  scripts that met it (on every primary, for a cluster client) and sends exactly those calls
  again, in their order: every call runs once, and a warm cache costs one round trip with no
  ``SCRIPT EXISTS`` in front.
* **One retry policy**: the client's (``connection.command_retry()``: connection errors,
  timeouts and ``LOADING``, exponential backoff with jitter). A batch that fails on the link is
  sent again whole on a fresh connection, as redis-py retries a pipeline, so a batch holds only
  commands that may run twice: every script is idempotent or fenced (see ``docs/redis.md``).
* **The direct transport** (``direct.py``) as a fast path: on a plain ``redis.Redis`` with a
  plain pool, commands go out on connections kept aside, skipping the pool's per-command
  work, and a batch is streamed (each command written as soon as it is built). Any other client
  (a cluster client, fakeredis, a blocking pool) runs the same commands through
  ``execute_command`` and a non-transactional pipeline; ``fast=False`` forces that path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import redis
from redis.exceptions import NoScriptError, ResponseError

from taskq_redis.direct import DirectCommands, command_options
from taskq_redis.scripts import ScriptRegistry
from taskq_redis.servers import LazyCluster

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

#: One script call: script name, KEYS, ARGV.
Call = tuple[str, list[str], list[Any]]

#: One command: its name and arguments, as sent (``("EVALSHA", sha, 2, ...)``, ``("GET", k)``).
Command = tuple[Any, ...]

#: How often one batch reloads scripts and re-sends the calls that met ``NOSCRIPT``; more than
#: one only matters when someone flushes the script cache again in between.
SCRIPT_RELOADS = 3


class Runner:
    """Runs commands and script calls on one client.

    Args:
        client: A ``redis.Redis`` or ``redis.cluster.RedisCluster`` (thread-safe: each thread
            borrows its own connection).
        fast: Whether the direct transport may serve the commands (when the client allows).
        direct: The direct transport to use (built from ``client`` when not given).
    """

    def __init__(
        self, client: Any, *, fast: bool = True, direct: DirectCommands | None = None
    ) -> None:
        self.client = client
        self.scripts = ScriptRegistry()
        self._direct = direct or DirectCommands(client)
        self._direct.enabled = self._direct.enabled and fast
        #: Whether a blocking command and a command behind it can share one write (a plain
        #: ``redis.Redis``; fakeredis and cluster clients may not block inside a pipeline).
        self.blocks_in_batch = self._direct.enabled
        #: Whether the client is a Redis Cluster client: one command names keys of one slot.
        self.cluster = is_cluster(client)

    @property
    def fast(self) -> bool:
        """Whether the direct transport serves this runner's commands."""
        return self._direct.enabled

    def script(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Command:
        """The command of one call of script ``name`` (for :meth:`batch`)."""
        return self.scripts.command(name, keys, args)

    def call(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run one script call now; one round trip with a warm script cache."""
        return self.run(self.scripts.command(name, keys, args))

    def call_repeated(self, name: str, keys: Sequence[str], args: Sequence[str]) -> Any:
        """:meth:`call` for KEYS that repeat from call to call (one queue's) and text ARGV.

        On the direct transport the call is written as RESP the registry packed, its head
        (command, digest, KEYS) kept from the first call (``ScriptRegistry.packed``).
        """
        direct = self._direct
        writes_resp = direct.enabled and direct.writes_resp
        resp = self.scripts.packed(name, keys, args) if writes_resp else None
        return self.run(self.scripts.command(name, keys, args), resp)

    def calls(self, calls: Sequence[Call], *, raise_on_error: bool = True) -> list[Any]:
        """:meth:`batch` of script calls ``(name, keys, args)``."""
        script = self.scripts.command
        if len(calls) == 1:
            return self._one(script(*calls[0]), raise_on_error)
        return self.batch([script(*call) for call in calls], raise_on_error=raise_on_error)

    def run(self, command: Command, resp: bytes | None = None) -> Any:
        """Run one command (raises what redis-py raises; error replies as exceptions).

        ``resp`` is the command packed already, written as it is by the direct transport.
        """
        try:
            if resp is not None:
                return self._direct.packed(resp, command)
            return self._direct(*command)
        except NoScriptError:
            if command[0] != "EVALSHA":
                raise
            self._load([command])
            return self._direct(*command)

    def batch(self, commands: Iterable[Command], *, raise_on_error: bool = True) -> list[Any]:
        """Run ``commands`` in order in one round trip (not a transaction).

        Each command goes out as soon as ``commands`` yields it on the fast path, so Redis works
        on the first ones while the later ones are built.

        Args:
            commands: Commands and script calls; each may run twice (see the module's notes).
            raise_on_error: Raise the first error reply once every command ran; ``False``
                returns error replies in place.

        Raises:
            redis.exceptions.ResponseError: the first error reply (with ``raise_on_error``).
        """
        built = type(commands) is list or type(commands) is tuple
        if built and len(commands) == 1:  # type: ignore[arg-type]
            return self._one(commands[0], raise_on_error)  # type: ignore[index]
        sent: list[Command] = []

        def recorded() -> Iterator[Command]:
            for command in commands:
                sent.append(command)
                yield command

        if built:
            sent = list(commands)
            replies = self._direct.stream(sent)
        else:
            replies = self._direct.stream(recorded())
        self._rerun_missing(sent, replies)
        if raise_on_error:
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
        return replies

    def _one(self, command: Command, raise_on_error: bool) -> list[Any]:
        """A batch of one command: no stream to set up (the common ack and send)."""
        try:
            return [self.run(command)]
        except ResponseError as exc:
            if raise_on_error:
                raise
            return [exc]

    def block_then(self, block: Command, then: Command) -> tuple[Any, Any]:
        """Run the blocking command ``block``, then ``then`` the moment it returns.

        On the fast path both share one write, and Redis keeps ``then`` queued while the client
        is blocked: a woken wait has the reply of ``then`` without a second round trip. Elsewhere
        they are two round trips.

        Returns:
            The replies of ``block`` and of ``then``.

        Raises:
            redis.exceptions.ResponseError: an error reply of either.
        """
        if not self.blocks_in_batch:
            return self.run(block), self.run(then)
        popped, reply = self.batch([block, then])
        return popped, reply

    def transaction(self, commands: Sequence[Command]) -> list[Any]:
        """Run ``commands`` in one MULTI/EXEC (reads that must see one moment of one slot).

        On a cluster they are a plain batch: redis-py 5.3 has no cluster transactions, so the
        reads may straddle a write there.
        """
        if self.cluster:
            return self.batch(commands)
        pipe = self.client.pipeline(transaction=True)
        for command in commands:
            pipe.execute_command(*command, **command_options(command))
        return list(pipe.execute())

    def _rerun_missing(self, commands: Sequence[Command], replies: list[Any]) -> None:
        """Load the scripts that met ``NOSCRIPT`` and send exactly those calls again."""
        for _ in range(SCRIPT_RELOADS):
            missing = self.scripts.missing(commands, replies)
            if not missing:
                return
            again = [commands[at] for at in missing]
            self._load(again)
            for at, reply in zip(missing, self._direct.stream(again), strict=True):
                replies[at] = reply

    def _load(self, commands: Iterable[Command]) -> None:
        """SCRIPT LOAD the scripts of these EVALSHA commands (on every primary of a cluster)."""
        for body in self.scripts.bodies(commands):
            self.client.script_load(body)


def is_cluster(client: Any) -> bool:
    """Whether ``client`` is a Redis Cluster client."""
    return isinstance(client, redis.RedisCluster | LazyCluster)

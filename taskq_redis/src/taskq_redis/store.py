"""The Redis handle every part of the broker shares: client, scripts, key names and time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from redis.exceptions import NoScriptError, ResponseError

from taskq_redis.keys import QueueKeys, queue_keys
from taskq_redis.scripts import Scripts

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    import redis
    from redis.client import Pipeline

    from taskq_core.clock import Clock

#: Items one script call handles at most; every loop in the Lua scripts is bounded by it.
BATCH = 1000

#: One script call: script name, KEYS, ARGV.
Call = tuple[str, list[str], list[Any]]

#: How often one pipeline reloads scripts and re-sends the calls that met ``NOSCRIPT``; more
#: than one only matters when someone flushes the script cache again in between.
SCRIPT_RELOADS = 3


class Store:
    """One client with its registered scripts, under one key prefix.

    Args:
        client: The redis-py client (thread-safe: each thread borrows its own connection).
        prefix: First part of every key name.
        clock: Test clock; ``None`` lets the scripts read the server's ``TIME``.
    """

    def __init__(self, client: redis.Redis, prefix: str, clock: Clock | None) -> None:
        self.client = client
        self.prefix = prefix
        self.clock = clock
        self.scripts = Scripts(client)
        #: Queue name -> ``time.monotonic()`` of this broker's last SADD of it (producing.py).
        self.announced: dict[str, float] = {}
        #: Worker id -> ``time.monotonic()`` of its last SADD to ``worker_queues`` (workers.py).
        self.announced_workers: dict[str, float] = {}

    def keys(self, queue: str) -> QueueKeys:
        """Key names of ``queue``; raises ``ValueError`` for an invalid queue name."""
        return queue_keys(self.prefix, queue)

    def now_arg(self) -> str:
        """The ``now`` ARGV of the scripts: the test clock's time, or '' for the server's TIME.

        ``repr`` of a float round-trips exactly, so Lua computes with the same double.
        """
        return "" if self.clock is None else repr(self.clock.now())

    def now(self) -> float:
        """The broker's current time: the test clock, else the server's ``TIME``."""
        if self.clock is not None:
            return self.clock.now()
        seconds, microseconds = self.client.time()
        return seconds + microseconds / 1_000_000

    def run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        """Run one script now (EVALSHA, reloading it on NOSCRIPT)."""
        return self.scripts(name, keys, args)

    def run_all(self, calls: Sequence[Call]) -> list[Any]:
        """Run script calls ``(name, keys, args)`` in order, in one round trip.

        A single call is a bare EVALSHA on the client; several go through :meth:`pipelined`
        (a pipeline costs noticeably more client CPU than one command, so it is only used when
        it saves a round trip).
        """
        if len(calls) == 1:
            name, keys, args = calls[0]
            return [self.scripts(name, keys, args)]

        def fill(pipe: Pipeline) -> None:
            for name, keys, args in calls:
                self.scripts(name, keys, args, client=pipe)

        return self.pipelined(fill)

    def stream(
        self,
        calls: Iterable[Call],
        *,
        lead: tuple[Any, ...] | None = None,
        raise_on_error: bool = True,
    ) -> list[Any]:
        """Run script calls in one round trip, each sent as soon as ``calls`` yields it.

        For calls that may run twice (see ``DirectCommands.stream``). A call that met
        ``NOSCRIPT`` did not run: it runs again once the script is loaded. ``lead``, a plain
        command (an SADD), goes first; its reply is dropped, except with ``raise_on_error=False``:
        then error replies are returned in place, and the lead's reply comes first.

        Raises:
            redis.exceptions.ResponseError: the first error reply, once every call ran.
        """
        made: list[Call] = []

        def commands() -> Iterator[tuple[Any, ...]]:
            if lead is not None:
                yield lead
            for name, keys, args in calls:
                made.append((name, keys, args))
                yield ("EVALSHA", self.scripts.sha(name), len(keys), *keys, *args)

        replies = self.scripts.direct.stream(commands())
        first = 0 if lead is None else 1
        for at, reply in enumerate(replies[first:], start=first):
            if isinstance(reply, NoScriptError):
                try:
                    replies[at] = self.run(*made[at - first])
                except ResponseError as exc:
                    replies[at] = exc
        if not raise_on_error:
            return replies
        if lead is not None:
            if isinstance(replies[0], Exception):
                raise replies[0]
            replies = replies[1:]
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    def pipelined(self, fill: Callable[[Pipeline], None]) -> list[Any]:
        """Run the commands ``fill`` queues in one round trip (not a transaction).

        Each script is atomic on its own; the pipeline only saves round trips. A call that
        meets ``NOSCRIPT`` did not run, so after the scripts are loaded exactly those calls are
        sent again, in their order: every call runs once, and the common case (a warm script
        cache) costs one round trip, with no ``SCRIPT EXISTS`` in front.

        Raises:
            redis.exceptions.ResponseError: the first error reply (a script's error, say),
                after every call has been answered.
        """
        pipe = self.client.pipeline(transaction=False)
        fill(pipe)
        commands = list(pipe.command_stack)
        replies = pipe.execute(raise_on_error=False)
        for _ in range(SCRIPT_RELOADS):
            missing = [at for at, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
            if not missing:
                break
            self.scripts.load(str(commands[at][0][1]) for at in missing)
            again = self.client.pipeline(transaction=False)
            for at in missing:
                args, options = commands[at]
                again.execute_command(*args, **options)  # type: ignore[no-untyped-call]
            for at, reply in zip(missing, again.execute(raise_on_error=False), strict=True):
                replies[at] = reply
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

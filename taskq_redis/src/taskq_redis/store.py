"""The Redis handle every part of the broker shares: the runner, key names and time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taskq_redis.keys import QueueKeys, queue_keys
from taskq_redis.runner import Runner

if TYPE_CHECKING:
    from taskq_core.clock import Clock

#: Items one script call handles at most; every loop in the Lua scripts is bounded by it.
BATCH = 1000

#: One script call: script name, KEYS, ARGV.
Call = tuple[str, list[str], list[Any]]  # (runner.Call, named here for the operation modules)


class Store:
    """One client's runner, under one key prefix.

    Args:
        client: The redis-py client (thread-safe: each thread borrows its own connection).
        prefix: First part of every key name.
        clock: Test clock; ``None`` lets the scripts read the server's ``TIME``.
        fast: Whether the runner may use the direct transport (``runner.py``).
    """

    def __init__(self, client: Any, prefix: str, clock: Clock | None, *, fast: bool = True) -> None:
        self.prefix = prefix
        self.clock = clock
        #: The one way every operation module talks to Redis.
        self.redis = Runner(client, fast=fast)
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
        seconds, microseconds = self.redis.run(("TIME",))
        return float(seconds) + int(microseconds) / 1_000_000

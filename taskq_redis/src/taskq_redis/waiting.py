"""Waiting for work without polling: BZPOPMIN on the queues' wake-up markers.

Every script that makes work available writes the queue's marker zset (``r`` -> 0 for READY
work, ``s`` -> ETA for a new earliest scheduled message), and an idle ``reserve`` blocks on
the markers of its queues, its next reserve script pipelined behind the BZPOPMIN so that Redis
runs it the moment the wait ends (no second round trip after a wake-up). The marker is only a
hint: a lost wake-up costs at most one blocking chunk, an extra one costs one empty reserve. An
idle worker therefore sends one BZPOPMIN and one reserve script per chunk (at most
MAX_BLOCK_SECONDS, shorter when a scheduled message is due sooner).

``interrupt()`` must end waits blocked in this process only, so each wait also blocks on a
private wake key (``<queue base>:wake:<token>``, in the first queue's hash tag) that
``interrupt()`` writes to. No socket is closed under a reader's feet.
"""

from __future__ import annotations

import enum
import logging
import threading
import uuid
from typing import TYPE_CHECKING, Any

import redis
from redis.exceptions import NoScriptError, RedisError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from taskq_redis.keys import QueueKeys
    from taskq_redis.scripts import Scripts
    from taskq_redis.store import Call

log = logging.getLogger("taskq.redis")

#: Shortest block handed to BZPOPMIN or BLMOVE, in seconds (0 would mean "forever").
MIN_BLOCK_SECONDS = 0.01

#: Lifetime of a wake key that ``interrupt()`` wrote after its waiter had already returned.
WAKE_KEY_TTL_SECONDS = 60


class Wake(enum.Enum):
    """How a wait ended."""

    MARKER = "marker"
    TIMEOUT = "timeout"
    INTERRUPTED = "interrupted"


class MarkerWaiter:
    """Blocks reserves on queue markers; ``interrupt()`` ends every wait in progress.

    Args:
        client: The client to block on; its socket timeout must exceed ``max_block``.
        max_block: Longest single BZPOPMIN, in seconds.
    """

    def __init__(self, client: redis.Redis, max_block: float, scripts: Scripts) -> None:
        self._client = client
        self._scripts = scripts
        self.max_block = max_block
        #: Whether a script call can ride behind the BZPOPMIN (a plain ``redis.Redis``; other
        #: clients, fakeredis among them, may not block inside a pipeline).
        self.pipelines = type(client) is redis.Redis
        self._lock = threading.Lock()
        self._generation = 0
        self._waiting: dict[str, str] = {}

    def generation(self) -> int:
        """Interruptions so far; a reserve remembers it and stops once it changes."""
        with self._lock:
            return self._generation

    def wait_then(
        self,
        queues: Sequence[QueueKeys],
        seconds: float,
        generation: int,
        then: Call | None,
    ) -> tuple[Wake, Any]:
        """Block until a marker is set, then run the script call ``then`` in the same round trip.

        The wait lasts up to ``seconds`` (capped at ``max_block``); ``None`` runs nothing after.

        ``then`` is pipelined behind the BZPOPMIN on the same connection (when
        :attr:`pipelines` is true): Redis runs it the moment the BZPOPMIN returns, so a woken
        reserve needs no second round trip (nor a second wake-up of the worker).

        Returns:
            How the wait ended (``INTERRUPTED`` when ``interrupt()`` was called since
            ``generation`` was read, ``MARKER`` when a marker woke it, ``TIMEOUT`` when it ran
            its course) and the reply of ``then`` (``None`` when it did not run, or met
            ``NOSCRIPT``: it is loaded again for the next time).
        """
        token = uuid.uuid4().hex
        wake = queues[0].wake(token)
        with self._lock:
            if self._generation != generation:
                return Wake.INTERRUPTED, None
            self._waiting[token] = wake
        reply = None
        try:
            timeout = max(MIN_BLOCK_SECONDS, min(seconds, self.max_block))
            markers = [*(keys.marker for keys in queues), wake]
            if then is None or not self.pipelines:
                popped = self._client.bzpopmin(markers, timeout=timeout)
            else:
                popped, reply = self._pipelined(markers, timeout, then)
        finally:
            with self._lock:
                self._waiting.pop(token, None)
                interrupted = self._generation != generation
        if interrupted:
            return Wake.INTERRUPTED, reply
        return (Wake.TIMEOUT if popped is None else Wake.MARKER), reply

    def _pipelined(self, markers: list[str], timeout: float, then: Call) -> tuple[Any, Any]:
        name, keys, args = then
        # Both commands in one write on a connection kept aside (``direct.py``): no pipeline
        # object to build and tear down on the wake-up path.
        popped, reply = self._scripts.direct.stream(
            [
                ("BZPOPMIN", *markers, repr(timeout)),
                ("EVALSHA", self._scripts.sha(name), len(keys), *keys, *args),
            ]
        )
        if isinstance(popped, Exception):
            raise popped
        if isinstance(reply, NoScriptError):
            self._scripts.load([self._scripts.sha(name)])
            return popped, None
        if isinstance(reply, Exception):
            raise reply
        return popped, reply

    def interrupt(self) -> None:
        """Wake every wait blocked in this process and make running reserves return."""
        with self._lock:
            self._generation += 1
            wakes = list(self._waiting.values())
        if not wakes:
            return
        try:
            pipe = self._client.pipeline(transaction=False)
            for wake in wakes:
                pipe.zadd(wake, {"interrupt": 0})
                pipe.expire(wake, WAKE_KEY_TTL_SECONDS)
            pipe.execute()
        except RedisError as exc:  # the blocked call will fail on the same broken link
            log.warning("could not wake blocked reserves: %s", exc)

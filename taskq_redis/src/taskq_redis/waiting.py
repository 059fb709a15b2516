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

from redis.crc import key_slot
from redis.exceptions import RedisError

from taskq_redis.codec import text
from taskq_redis.keys import QueueKeys

if TYPE_CHECKING:
    from collections.abc import Sequence

    from taskq_redis.runner import Command, Runner
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

    def __init__(self, runner: Runner, max_block: float) -> None:
        self._runner = runner
        self.max_block = max_block
        self._lock = threading.Lock()
        self._generation = 0
        self._waiting: dict[str, list[str]] = {}

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

        ``then`` rides behind the BZPOPMIN (``Runner.block_then``): Redis runs it the moment
        the BZPOPMIN returns, so a woken reserve needs no second round trip (nor a second
        wake-up of the worker).

        Returns:
            How the wait ended (``INTERRUPTED`` when ``interrupt()`` was called since
            ``generation`` was read, ``MARKER`` when a marker woke it, ``TIMEOUT`` when it ran
            its course) and the reply of ``then`` (``None`` when there was none).
        """
        token = uuid.uuid4().hex
        groups = slot_groups(queues) if self._runner.cluster else [list(queues)]
        wakes = [group[0].wake(token) for group in groups]
        with self._lock:
            if self._generation != generation:
                return Wake.INTERRUPTED, None
            self._waiting[token] = wakes
        reply = None
        try:
            timeout = max(MIN_BLOCK_SECONDS, min(seconds, self.max_block))
            blocks = [
                ("BZPOPMIN", *(keys.marker for keys in group), wake, repr(timeout))
                for group, wake in zip(groups, wakes, strict=True)
            ]
            if len(blocks) > 1:
                popped = self._wait_slots(blocks, wakes)
                if then is not None:
                    reply = self._runner.call(*then)
            elif then is None:
                popped = self._runner.run(blocks[0])
            else:
                popped, reply = self._runner.block_then(blocks[0], self._runner.script(*then))
        finally:
            with self._lock:
                self._waiting.pop(token, None)
                interrupted = self._generation != generation
        if interrupted:
            return Wake.INTERRUPTED, reply
        return (Wake.TIMEOUT if popped is None else Wake.MARKER), reply

    def _wait_slots(self, blocks: list[Command], wakes: list[str]) -> Any:
        """Block on each slot's markers at once, one connection each; the first wakes the rest.

        A cluster cannot block on keys of several slots in one command, so each slot group
        gets its own BZPOPMIN (with its own wake key) on its own connection, in a thread; the
        first to return writes ``done`` to the other groups' wake keys so they return too.

        Returns:
            A popped marker entry when a marker (or ``interrupt()``) woke a group, else ``None``.
        """
        replies: list[Any] = [None] * len(blocks)
        errors: list[BaseException] = []
        first = threading.Event()

        def block(at: int) -> None:
            try:
                replies[at] = self._runner.run(blocks[at])
            except BaseException as exc:
                errors.append(exc)
            first.set()

        threads = [
            threading.Thread(target=block, args=(at,), daemon=True) for at in range(len(blocks))
        ]
        for thread in threads:
            thread.start()
        first.wait()
        done: list[Command] = []
        for wake in wakes:
            done += [("ZADD", wake, 0, "done"), ("EXPIRE", wake, WAKE_KEY_TTL_SECONDS)]
        self._runner.batch(done)
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        woken = [entry for entry in replies if entry is not None and text(entry[1]) != "done"]
        return woken[0] if woken else None

    def interrupt(self) -> None:
        """Wake every wait blocked in this process and make running reserves return."""
        with self._lock:
            self._generation += 1
            wakes = [wake for keys in self._waiting.values() for wake in keys]
        if not wakes:
            return
        try:
            commands: list[Command] = []
            for wake in wakes:
                commands += [("ZADD", wake, 0, "interrupt"), ("EXPIRE", wake, WAKE_KEY_TTL_SECONDS)]
            self._runner.batch(commands)
        except RedisError as exc:  # the blocked call will fail on the same broken link
            log.warning("could not wake blocked reserves: %s", exc)


def slot_groups(queues: Sequence[QueueKeys]) -> list[list[QueueKeys]]:
    """``queues`` grouped by the cluster slot of their hash tag, in their order."""
    groups: dict[int, list[QueueKeys]] = {}
    for keys in queues:
        groups.setdefault(key_slot(keys.marker.encode()), []).append(keys)
    return list(groups.values())

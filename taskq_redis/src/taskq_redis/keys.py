"""Redis key names: every key of one queue shares the hash tag ``{<queue>}``.

One tag per queue means every Lua script touches a single Cluster slot, so ``CROSSSLOT`` is
impossible by construction. The layout (types and contents) is documented once, in the header
of ``lua/lib.lua``; this module only builds the names, so no script ever builds one itself.

Two keys live outside any queue's tag and are never touched by a script: ``<prefix>:queues``
(every queue that ever received a message, for ``queues()``) and ``<prefix>:worker_queues``
(every queue a worker ever heartbeated in, so ``list_alive_workers(queue=None)`` finds workers
of queues that never received a message). Both are written with a plain pipelined ``SADD``.

Results and rate limiters have a key of their own each, with its own tag: a result is looked up
by message id alone (the waiter may not know the queue), and a limiter is shared by tasks of any
queue. Each is the only key its script touches, so any id or limiter name makes a valid key.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from taskq_core.errors import ConfigurationError
from taskq_core.schemas import MAX_PRIORITY, MIN_PRIORITY, check_queue_name

DEFAULT_PREFIX = "taskq"

_FORBIDDEN_IN_PREFIX = frozenset("{} \t\r\n")


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` if it can start a key name, else raise ``ConfigurationError``.

    Braces are refused because Redis Cluster hashes the first ``{...}`` of a key: a brace in
    the prefix would move every queue into one slot, or split a queue across slots.
    """
    if not prefix or _FORBIDDEN_IN_PREFIX & set(prefix):
        raise ConfigurationError(
            f"invalid Redis key prefix {prefix!r}: use a non-empty string without braces or spaces"
        )
    return prefix


@dataclass(frozen=True)
class QueueKeys:
    """The names of every key of one queue; see ``lua/lib.lua`` for what each holds."""

    queue: str
    base: str
    ready: tuple[str, ...]
    scheduled: str
    processing: str
    dead: str
    payloads: str
    state: str
    marker: str
    meta: str
    periodic: str
    workers: str
    worker_info: str
    worker_since: str
    done: str
    done_old: str
    history: str
    unique: str
    unique_until: str

    def ready_for(self, priority: int) -> str:
        """The READY list of ``priority`` (0..9)."""
        return self.ready[priority - MIN_PRIORITY]

    def wake(self, token: str) -> str:
        """A private wake-up key for one blocked reserve, so ``interrupt()`` can end its wait.

        It shares the queue's tag, so blocking on it together with the queue's marker stays in
        one slot.
        """
        return f"{self.base}:wake:{token}"

    def terminate(self, worker: str) -> str:
        """The termination requests of one worker in this queue (see ``lua/revoke.lua``)."""
        return f"{self.base}:terminate:{worker}"

    def all(self) -> tuple[str, ...]:
        """Every persistent key of the queue (tests check they share one slot)."""
        return (
            *self.ready,
            self.scheduled,
            self.processing,
            self.dead,
            self.payloads,
            self.state,
            self.marker,
            self.meta,
            self.periodic,
            self.workers,
            self.worker_info,
            self.worker_since,
            self.done,
            self.done_old,
            self.history,
            self.unique,
            self.unique_until,
        )


@lru_cache(maxsize=1024)
def queue_keys(prefix: str, queue: str) -> QueueKeys:
    """Build (and cache) the key names of ``queue`` under ``prefix``.

    Raises:
        ValueError: ``queue`` is not a valid queue name (braces would break the hash tag).
    """
    base = f"{prefix}:{{{check_queue_name(queue)}}}"
    return QueueKeys(
        queue=queue,
        base=base,
        ready=tuple(f"{base}:ready:{p}" for p in range(MIN_PRIORITY, MAX_PRIORITY + 1)),
        scheduled=f"{base}:scheduled",
        processing=f"{base}:processing",
        dead=f"{base}:dead",
        payloads=f"{base}:payloads",
        state=f"{base}:state",
        marker=f"{base}:marker",
        meta=f"{base}:meta",
        periodic=f"{base}:periodic",
        workers=f"{base}:workers",
        worker_info=f"{base}:worker_info",
        worker_since=f"{base}:worker_since",
        done=f"{base}:done",
        done_old=f"{base}:done_old",
        history=f"{base}:history",
        unique=f"{base}:unique",
        unique_until=f"{base}:unique_until",
    )


def queues_key(prefix: str) -> str:
    """The set of every queue that ever received a message (outside any queue's tag)."""
    return f"{prefix}:queues"


def worker_queues_key(prefix: str) -> str:
    """The set of every queue a worker heartbeated in (outside any queue's tag)."""
    return f"{prefix}:worker_queues"


def result_key(prefix: str, message_id: str) -> str:
    """The one-element list holding the result of ``message_id`` (see ``lua/store_result.lua``).

    Outside every queue's tag: the id alone finds it. The tag is the id, so on Cluster results
    spread over the slots; the key is the only one its script touches, so an id containing
    braces merely picks another slot.
    """
    return f"{prefix}:result:{{{message_id}}}"


def rate_limit_key(prefix: str, name: str) -> str:
    """The grant log of the rate limiter ``name`` (see ``lua/rate_limit.lua``), in its own tag."""
    return f"{prefix}:{{rl:{name}}}:log"

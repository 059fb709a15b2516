"""Worker liveness: heartbeats, the alive list, and declaring silent workers dead.

Liveness is recorded per queue (``Q:workers`` zset scored by the last heartbeat, plus the
worker's JSON in ``Q:worker_info``) so that dead-worker recovery, which must read a queue's
PROCESSING and its workers together, stays inside the queue's hash tag.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from taskq_core.capabilities.liveness import heartbeat_gap
from taskq_redis.codec import text, worker_info
from taskq_redis.failures import reports_lost_connection
from taskq_redis.keys import queues_key, worker_queues_key
from taskq_redis.producing import ANNOUNCE_INTERVAL
from taskq_redis.store import BATCH

if TYPE_CHECKING:
    from taskq_core.schemas import WorkerInfo
    from taskq_redis.store import Call, Store


def send_heartbeat(store: Store, worker: WorkerInfo) -> None:
    """heartbeat.lua in each queue, in one round trip (a bare EVALSHA for one queue).

    The queues are added to ``<prefix>:worker_queues`` by a pipelined SADD with the first
    heartbeat, then every ``ANNOUNCE_INTERVAL`` seconds (as producers do for ``queues``), so
    an idle worker's heartbeat is one command.
    """
    if not worker.queues:
        return
    info = worker.model_dump_json()
    now = store.now_arg()
    gap = heartbeat_gap(worker)
    args = [now, worker.worker_id, info, "" if gap is None else repr(gap)]
    calls: list[Call] = []
    for queue in worker.queues:
        keys = store.keys(queue)
        calls.append(("heartbeat", [keys.workers, keys.worker_info, keys.worker_since], args))
    moment = time.monotonic()
    last = store.announced_workers.get(worker.worker_id, -ANNOUNCE_INTERVAL)
    if moment - last < ANNOUNCE_INTERVAL:
        store.redis.calls(calls)
        return
    announce = ("SADD", worker_queues_key(store.prefix), *worker.queues)
    store.redis.batch([announce, *(store.redis.script(*call) for call in calls)])
    store.announced_workers[worker.worker_id] = moment


def forget(store: Store, worker: WorkerInfo) -> None:
    """forget_worker.lua in each of the worker's queues, pipelined."""
    store.announced_workers.pop(worker.worker_id, None)
    if not worker.queues:
        return

    calls: list[Call] = []
    for queue in worker.queues:
        keys = store.keys(queue)
        names = [keys.workers, keys.worker_info, keys.worker_since]
        calls.append(("forget_worker", names, [worker.worker_id]))
    store.redis.calls(calls)


def known_worker_queues(store: Store) -> list[str]:
    """Queues that received a message or a heartbeat, sorted."""
    # Two SMEMBERS, not SUNION: the sets may sit in two slots.
    both = store.redis.batch(
        [("SMEMBERS", queues_key(store.prefix)), ("SMEMBERS", worker_queues_key(store.prefix))]
    )
    return sorted({text(member) for members in both for member in members})


def list_alive(store: Store, *, within: float, queue: str | None) -> list[WorkerInfo]:
    """Workers whose last heartbeat is at most ``within`` seconds old, each listed once.

    Two round trips: the fresh ids with their scores per queue, then their stored info.
    """
    queues = [queue] if queue is not None else known_worker_queues(store)
    if not queues:
        return []
    cutoff = repr(store.now() - within)
    keys = [store.keys(name) for name in queues]

    seen = store.redis.batch(
        [("ZRANGEBYSCORE", k.workers, cutoff, "+inf", "WITHSCORES") for k in keys]
    )
    infos = [
        ("HMGET", queue_keys.worker_info, *(member for member, _ in members))
        for queue_keys, members in zip(keys, seen, strict=True)
        if members
    ]
    replies = iter(store.redis.batch(infos) if infos else [])
    alive: dict[str, WorkerInfo] = {}
    for members in seen:
        if not members:
            continue
        for (_, score), raw in zip(members, next(replies), strict=True):
            found = worker_info(raw, float(score)) if raw is not None else None
            if found is None:
                continue
            current = alive.get(found.worker_id)
            if current is None or current.last_seen < found.last_seen:
                alive[found.worker_id] = found
    return sorted(alive.values(), key=lambda info: info.worker_id)


def expire_dead(store: Store, queue: str, *, within: float, reaper: str | None) -> list[str]:
    """Expire the leases of workers silent for more than ``within`` s, then remove them.

    expire_workers.lua scans PROCESSING a bounded slice per call; this loop walks the slices,
    passing the dead workers found by the first call to the next ones. With a ``reaper``, the
    script first checks that the reaper watched the whole silence (see its header).
    """
    keys = store.keys(queue)
    offset = 0
    silent: list[str] = []
    while True:
        reply = store.redis.call(
            "expire_workers",
            [keys.workers, keys.worker_info, keys.processing, keys.state, keys.worker_since],
            [store.now_arg(), repr(float(within)), offset, BATCH, reaper or "", *silent],
        )
        offset = int(reply[0])
        workers = [text(worker) for worker in reply[1:]]
        if offset < 0:
            return workers
        silent = workers


class WorkerOperations:
    """Worker liveness of :class:`~taskq_redis.broker.RedisBroker` (this module's functions).

    A part of the broker: it runs on the broker's store (``_store``).
    """

    _store: Store

    @reports_lost_connection
    def send_heartbeat(self, worker: WorkerInfo) -> None:
        """Record that ``worker`` is alive now (server time) in each of its queues."""
        send_heartbeat(self._store, worker)

    @reports_lost_connection
    def list_alive_workers(self, *, within: float, queue: str | None = None) -> list[WorkerInfo]:
        """Workers heard from within ``within`` seconds, each once, ``last_seen`` filled in."""
        return list_alive(self._store, within=within, queue=queue)

    @reports_lost_connection
    def forget_worker(self, worker: WorkerInfo) -> None:
        """Drop ``worker``'s liveness records (clean shutdown)."""
        forget(self._store, worker)

    @reports_lost_connection
    def expire_dead_workers(
        self, queue: str, *, within: float, reaper: str | None = None
    ) -> list[str]:
        """Remove workers silent for more than ``within`` s; their leases expire now.

        With a ``reaper``, only once it has itself heartbeated without a gap for ``within``.
        """
        return expire_dead(self._store, queue, within=within, reaper=reaper)

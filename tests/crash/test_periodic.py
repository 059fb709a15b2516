"""Three schedulers, one every=1 schedule, 20 s, one scheduler SIGKILLed: each tick sent once.

Real ``taskq worker`` processes (``periodic_app.py``) against a real redis-server; each records
the tick of every execution it starts, from the message's header, into Redis.
"""

from __future__ import annotations

import collections
import json
import math
import sys
import time
from pathlib import Path

import pytest

from ..support.processes import WorkerProcess

pytestmark = [pytest.mark.redis, pytest.mark.slow]

APP = Path(__file__).with_name("periodic_app.py")
#: Seconds of ticks watched; an every=1 schedule should send one per second.
WINDOW = 20
#: Worker processes, each running the scheduler.
SCHEDULERS = 3


def start_taskq_worker(crash, number: int) -> WorkerProcess:
    """``taskq worker periodic_app:app`` as a subprocess, with the scheduler on (the default)."""
    name = f"{crash.prefix}-scheduler{number}"
    command = Path(sys.executable).with_name("taskq")
    argv = [str(command), "worker", f"{APP.stem}:app", "-c", "1", "--prefetch", "0"]
    argv += ["--visibility-timeout", "2", "--heartbeat-interval", "0.5", "--name", name]
    worker = WorkerProcess.start(
        name,
        argv,
        crash.log_dir,
        env={
            "TASKQ_CRASH_URL": crash.server.url,
            "TASKQ_CRASH_PREFIX": crash.prefix,
            "TASKQ_CRASH_QUEUE": crash.queue,
        },
        cwd=APP.parent,
        plugin_autoload=True,
    )
    crash.workers.append(worker)  # killed and described by the crash fixture's teardown
    return worker


def is_ready(crash, worker: WorkerProcess) -> bool:
    if not worker.alive:
        raise AssertionError(f"{worker.name} exited before it was ready\n{worker.log_tail()}")
    return bool(crash.redis.sismember(f"{crash.test_base}:ready", worker.pid))


def tick_records(crash) -> list[dict]:
    return [json.loads(raw) for raw in crash.redis.lrange(f"{crash.test_base}:ticks", 0, -1)]


def test_three_schedulers_send_each_tick_once_while_one_is_killed(crash):
    # Given three worker processes running the scheduler of an every=1 schedule
    workers = [start_taskq_worker(crash, n) for n in range(1, SCHEDULERS + 1)]
    for worker in workers:
        crash.wait_until(lambda w=worker: is_ready(crash, w), what=f"{worker.name} is consuming")
    first = math.ceil(time.time()) + 1
    window = range(first, first + WINDOW)

    def ticked(tick: float) -> bool:
        return any(record["tick"] >= tick for record in tick_records(crash))

    # When one scheduler is SIGKILLed in the middle of the 20 s
    crash.wait_until(lambda: ticked(first + WINDOW // 2), what="half of the ticks ran")
    workers[0].kill()
    crash.wait_until(lambda: ticked(first + WINDOW), what="every tick of the window ran")
    crash.stop_workers()

    # Then every tick of the window was sent once: 20 +- 1 ticks, none sent twice (a tick run
    # twice by a redelivery keeps its message id; a second send of a tick would be token 1 again)
    records = [r for r in tick_records(crash) if first <= r["tick"] < first + WINDOW]
    assert all(r["tick"] == int(r["tick"]) for r in records), "ticks fall on whole seconds"
    sends = collections.Counter(r["tick"] for r in records if r["token"] == 1)
    assert not [tick for tick, count in sends.items() if count > 1], f"sent twice: {sends}"
    ids = collections.defaultdict(set)
    for record in records:
        ids[record["tick"]].add(record["id"])
    assert all(len(found) == 1 for found in ids.values()), f"one message per tick: {dict(ids)}"
    assert WINDOW - 1 <= len(sends) <= WINDOW + 1, f"ticks sent: {sorted(sends)} of {window}"

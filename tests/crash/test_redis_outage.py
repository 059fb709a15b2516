"""Redis is down for a few seconds, less than a lease: nothing runs twice.

An outage silences every worker at once. The reaper that reaches the restarted Redis first
must not take that silence for deaths (``expire_dead_workers(reaper=...)``), and a task that
ended while Redis was down must be acked once it is back, not given up after the client's own
few seconds of retries (``worker/link.py``). Redis is SIGKILLed and restarted on the same port
from its append-only file (``appendfsync always``), so it comes back with every write.
"""

from __future__ import annotations

import time

import pytest

pytestmark = [pytest.mark.redis, pytest.mark.slow]

#: Worker timings: a lease much longer than the outage, a dead-worker window shorter than it,
#: and a reaper that runs often (the first one back must wait anyway).
WORKER = {
    "visibility_timeout": 30.0,
    "heartbeat_interval": 2.0,
    "reaper_interval": 0.3,
    "block_timeout": 2.0,
    "concurrency": 1,
    "prefetch": 0,
}
#: The dead-worker window those timings give (four heartbeats).
WORKER_TIMEOUT = 8.0
#: How long Redis stays down: past the window and past the client's ~3 s of retries, well
#: within the lease.
OUTAGE = 12.0


def _outage(crash) -> float:
    """Kill redis-server, keep it down for :data:`OUTAGE` seconds, start it again.

    Returns the server's time once it is back.
    """
    crash.server.kill()
    down = time.monotonic()
    crash.wait_until(lambda: time.monotonic() - down > OUTAGE, what="the outage has lasted")
    crash.server.start()
    return crash.broker.now()


def _heartbeat_after(crash, worker, moment: float) -> bool:
    """Whether ``worker``'s last heartbeat is later than ``moment`` (server time)."""
    seen = crash.redis.zscore(crash.keys.workers, worker.name)
    return seen is not None and seen > moment


def test_running_tasks_are_not_run_again_after_an_outage_shorter_than_the_lease(
    start_redis_server, crash_on
):
    # Given two workers, each running a task
    crash = crash_on(start_redis_server(aof=True))
    workers = [crash.start_worker(**WORKER) for _ in range(2)]
    running = [crash.send("crash.gated") for _ in range(2)]
    crash.wait_until(
        lambda: all(crash.tally("started")[i] for i in running), what="both tasks are running"
    )

    # When Redis is down for longer than the dead-worker window (shorter than the lease)
    back = _outage(crash)

    # And the workers have been back for longer than that window, reaping all along
    crash.wait_until(
        lambda: all(_heartbeat_after(crash, w, back + WORKER_TIMEOUT + 1.0) for w in workers),
        what="both workers heartbeat for longer than the dead-worker window after the outage",
    )

    # Then both still hold their tasks, which finish and are acked once, never run twice
    owners = [crash.owner(i) for i in running]
    assert None not in owners, f"a live worker's task was handed back: {owners}"
    assert {worker for _, worker in owners} == {w.name for w in workers}
    crash.open_gate()
    crash.wait_all_acked()
    assert crash.check_invariants() == dict.fromkeys(crash.sent, "acked")
    assert crash.tally("started") == dict.fromkeys(running, 1)
    assert crash.tally("acked") == dict.fromkeys(running, 1)
    assert all(worker.alive for worker in workers)


def test_task_that_ends_during_an_outage_is_acked_once_redis_is_back(
    start_redis_server, crash_on, tmp_path
):
    # Given a worker running a task that waits for a file, not for Redis (and sending its
    # acks straight away: the ack records would wait for Redis)
    crash = crash_on(start_redis_server(aof=True))
    worker = crash.start_worker(record_acks=False, **WORKER)
    gate = tmp_path / "gate"
    message_id = crash.send("crash.file_gated", str(gate))
    crash.wait_until(lambda: crash.tally("started")[message_id], what="the task is running")

    # When Redis goes down, the task ends while it is down, and Redis comes back later
    crash.server.kill()
    down = time.monotonic()
    gate.touch()
    crash.wait_until(lambda: time.monotonic() - down > OUTAGE, what="the outage has lasted")
    crash.server.start()

    # Then the worker acks it once Redis is back: it ran once and was acked once
    crash.wait_all_acked()
    assert crash.check_invariants() == {message_id: "acked"}
    assert crash.deliveries(message_id) == [(1, worker.name)]
    assert crash.deliveries(message_id, "acked") == [(1, worker.name)]

    # And the worker says where the outage ended, in one line without a traceback
    crash.wait_until(lambda: "reconnected to the broker" in worker.log(), what="reconnected")
    assert "Traceback" not in worker.log()

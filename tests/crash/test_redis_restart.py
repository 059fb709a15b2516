"""Redis goes away under running workers: no accepted task is lost, the workers carry on.

DESIGN.md §1 (no Redis restart with AOF loses a task) and §5 (scripts reload on NOSCRIPT,
connections reconnect); research/redis-design.md §4 case 5.

The restart is a SIGKILL of redis-server with ``appendfsync always``, so every write it
acknowledged is on disk. It happens while every worker slot holds a gated task: no ack is in
flight, so the outcome is deterministic (an ack whose reply is lost with the connection is a
different failure, connection drop mid-script, case 6).
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def test_redis_restart_with_aof_loses_no_task_and_workers_reconnect(start_redis_server, crash_on):
    # Given two busy workers: four tasks running, six waiting in READY, two in SCHEDULED
    crash = crash_on(start_redis_server(aof=True))
    workers = [crash.start_worker(concurrency=2) for _ in range(2)]
    running = [crash.send("crash.gated") for _ in range(4)]
    crash.wait_until(
        lambda: all(crash.tally("started")[i] for i in running), what="four tasks are running"
    )
    waiting = [crash.send("crash.work") for _ in range(6)]
    scheduled = [crash.send("crash.work", countdown=3.0) for _ in range(2)]
    before = crash.check_invariants()
    assert [before[i] for i in running + waiting] == ["processing"] * 4 + ["ready"] * 6

    # When redis-server is killed and started again from its append-only file
    crash.server.restart()

    # Then every accepted task is still there, where it was
    after = crash.check_invariants()
    assert {i: after[i] for i in running + waiting} == {i: before[i] for i in running + waiting}
    assert {after[i] for i in scheduled} <= {"scheduled", "ready"}

    # And the same worker processes finish everything, including work sent after the restart
    crash.open_gate()
    crash.send("crash.work")
    crash.wait_all_acked()
    assert all(worker.alive for worker in workers)

    # And when Redis restarts again while they are idle, blocked waiting for work
    crash.wait_until(
        lambda: len(_blocked_clients(crash)) == len(workers), what="both workers block idle"
    )
    crash.server.restart()
    late = [crash.send("crash.work") for _ in range(4)]
    crash.wait_all_acked(late)

    # Then every task was acked exactly once
    assert crash.check_invariants() == dict.fromkeys(crash.sent, "acked")
    assert all(count == 1 for count in crash.tally("acked").values())
    assert set(crash.tally("started")) == set(crash.sent)
    assert all(worker.alive for worker in workers)


def test_script_flush_mid_run_loses_nothing(crash):
    # Given two workers busy with a stream of short tasks
    workers = [crash.start_worker(concurrency=2, prefetch=2) for _ in range(2)]
    ids = crash.broker.send_batch([crash.message("crash.work", 0.005) for _ in range(200)])
    assert all(ids)

    # When the server's script cache is flushed again and again while they work
    for threshold in (20, 60, 100, 140):
        crash.wait_until(
            lambda threshold=threshold: len(crash.tally("acked")) >= threshold,
            what=f"{threshold} tasks are acked",
        )
        crash.redis.script_flush()
    crash.wait_all_acked()

    # Then every task ran and was acked exactly once, and the workers are still up
    assert crash.check_invariants() == dict.fromkeys(crash.sent, "acked")
    assert set(crash.tally("started").values()) == {1}
    assert set(crash.tally("acked").values()) == {1}
    assert all(worker.alive for worker in workers)


def _blocked_clients(crash) -> list[str]:
    """Connections blocked in BZPOPMIN on this test's queue marker."""
    return [
        client["name"] or client["addr"]
        for client in crash.redis.client_list()
        if client["cmd"] == "bzpopmin" and "b" in client["flags"]
    ]


def test_redis_restart_without_persistence_loses_its_data_but_no_worker(
    start_redis_server, crash_on
):
    # Given a worker running a task on a server that keeps nothing on disk
    crash = crash_on(start_redis_server(aof=False))
    worker = crash.start_worker()
    running = crash.send("crash.gated")
    crash.wait_until(lambda: crash.tally("started")[running], what="the task is running")

    # When redis-server restarts empty under it (the documented total loss)
    crash.server.restart()
    crash.open_gate()
    crash.wait_until(
        lambda: [r for r in crash.records("ack_calls") if r["id"] == running],
        what="the worker finished the task whose message the restart erased",
    )

    # Then its ack is refused (nothing is left to ack), and the same process, not a crash
    # loop, serves the work sent afterwards
    assert crash.records("ack_calls") == [
        {"id": running, "token": 1, "worker": worker.name, "ok": False}
    ]
    after = [crash.send("crash.work") for _ in range(3)]
    crash.wait_all_acked(after)
    assert worker.alive
    assert crash.check_invariants(after) == dict.fromkeys(after, "acked")

"""A worker that dies, freezes or runs long: nothing is lost, nothing is acked twice.

DESIGN.md §1 (at-least-once, leases renewed, fencing) against real worker processes and a real
redis-server; research/redis-design.md §4 cases 1-4.
"""

from __future__ import annotations

import signal

import pytest

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def test_killed_worker_running_and_prefetched_tasks_complete_on_another_worker(crash):
    # Given a worker running a task and holding three prefetched ones
    first = crash.start_worker(concurrency=1, prefetch=3)
    running = crash.send("crash.gated")
    crash.wait_until(lambda: crash.tally("started")[running], what="the gated task started")
    prefetched = [crash.send("crash.work") for _ in range(3)]
    crash.wait_until(
        lambda: all(crash.owner(i) == (1, first.name) for i in prefetched),
        what="the first worker holds the three tasks it cannot start yet",
    )

    # When it is killed with SIGKILL and another worker starts
    first.kill()
    where = crash.check_invariants()
    assert set(where.values()) == {"processing"}, "a killed worker's tasks stay in PROCESSING"
    crash.open_gate()
    second = crash.start_worker(concurrency=1, prefetch=3)
    crash.wait_all_acked()

    # Then every task was acked exactly once, by the second worker; the running one ran twice,
    # the prefetched ones only once (they were handed out before but never started)
    assert crash.check_invariants() == dict.fromkeys(crash.sent, "acked")
    assert crash.deliveries(running) == [(1, first.name), (2, second.name)]
    for message_id in prefetched:
        assert crash.deliveries(message_id) == [(2, second.name)]
    for message_id in crash.sent:
        assert crash.deliveries(message_id, "acked") == [(2, second.name)]


def test_killed_worker_with_many_coroutines_in_flight_loses_none(crash):
    # Given a worker of one thread running twenty async tasks at once, all waiting at a gate
    first = crash.start_worker(concurrency=1, async_concurrency=20)
    sent = [crash.send("crash.async_gated") for _ in range(20)]
    crash.wait_until(
        lambda: all(crash.tally("started")[i] for i in sent),
        what="the twenty coroutines started together",
    )

    # When it is killed with SIGKILL, the gate opens and another worker starts
    first.kill()
    assert set(crash.check_invariants().values()) == {"processing"}
    crash.open_gate()
    second = crash.start_worker(concurrency=1, async_concurrency=20)
    crash.wait_all_acked()

    # Then every task ran again and was acked exactly once, by the second worker
    assert crash.check_invariants() == dict.fromkeys(crash.sent, "acked")
    for message_id in sent:
        assert crash.deliveries(message_id) == [(1, first.name), (2, second.name)]
        assert crash.deliveries(message_id, "acked") == [(2, second.name)]


def test_frozen_worker_late_ack_is_fenced(crash):
    # Given a worker running a task, frozen (SIGSTOP) past its lease
    zombie = crash.start_worker()
    message_id = crash.send("crash.gated")
    crash.wait_until(lambda: crash.tally("started")[message_id], what="the task started")
    zombie.signal(signal.SIGSTOP)

    # And another worker that took the task over once the lease was lost
    heir = crash.start_worker()
    crash.wait_until(
        lambda: crash.deliveries(message_id) == [(1, zombie.name), (2, heir.name)],
        what="the second worker runs the task with token 2",
    )

    # When the frozen worker wakes up (SIGCONT) and finishes its copy first
    crash.open_gate(zombie)
    zombie.signal(signal.SIGCONT)
    crash.wait_until(
        lambda: [r for r in crash.records("ack_calls") if r["worker"] == zombie.name],
        what="the woken worker sent its late ack",
    )

    # Then its ack was refused and changed nothing: the heir still holds the task
    assert crash.records("ack_calls") == [
        {"id": message_id, "token": 1, "worker": zombie.name, "ok": False}
    ]
    assert crash.owner(message_id) == (2, heir.name)
    assert crash.check_invariants() == {message_id: "processing"}

    # And when the heir finishes, its ack is the one and only successful ack
    crash.open_gate(heir)
    crash.wait_all_acked()
    assert crash.check_invariants() == {message_id: "acked"}
    assert crash.deliveries(message_id, "acked") == [(2, heir.name)]
    assert zombie.alive, "a fenced ack is logged, it does not crash the worker"


def test_task_running_five_leases_is_not_redelivered_while_heartbeats_flow(crash):
    # Given two workers with a 2 s lease renewed every 0.5 s
    runner = crash.start_worker(visibility_timeout=2.0, heartbeat_interval=0.5)
    message_id = crash.send("crash.work", 10.0)  # five times the lease
    crash.wait_until(lambda: crash.tally("started")[message_id], what="the long task started")
    crash.start_worker(visibility_timeout=2.0, heartbeat_interval=0.5)  # idle, would steal it
    first_deadline = crash.redis.zscore(crash.keys.processing, message_id)

    # When the task runs to its end
    crash.wait_until(
        lambda: (crash.redis.zscore(crash.keys.processing, message_id) or 0) > first_deadline,
        what="a heartbeat pushed the lease deadline forward",
    )
    crash.wait_all_acked()

    # Then it ran once and was acked once, by the worker that started it
    assert crash.check_invariants() == {message_id: "acked"}
    assert crash.deliveries(message_id) == [(1, runner.name)]
    assert crash.deliveries(message_id, "acked") == [(1, runner.name)]


def test_task_is_redelivered_when_heartbeats_stop(crash):
    # Given a worker running a long task
    silent = crash.start_worker(visibility_timeout=2.0, heartbeat_interval=0.5)
    message_id = crash.send("crash.gated")
    crash.wait_until(lambda: crash.tally("started")[message_id], what="the long task started")

    # When its heartbeats stop (SIGSTOP) and another worker is there
    silent.signal(signal.SIGSTOP)
    other = crash.start_worker(visibility_timeout=2.0, heartbeat_interval=0.5)

    # Then the other worker gets the task and finishes it
    crash.wait_until(
        lambda: crash.owner(message_id) == (2, other.name),
        what="the lease expired and the task was redelivered",
    )
    crash.open_gate(other)
    crash.wait_all_acked()
    silent.kill()
    assert crash.check_invariants() == {message_id: "acked"}
    assert crash.deliveries(message_id) == [(1, silent.name), (2, other.name)]
    assert crash.deliveries(message_id, "acked") == [(2, other.name)]


def test_busy_worker_reports_only_leases_it_really_lost(crash):
    # Given a busy worker whose heartbeat renews its leases while tasks are being acked
    worker = crash.start_worker(concurrency=4, prefetch=4, heartbeat_interval=0.02)

    # When it works through a stream of short tasks
    crash.broker.send_batch([crash.message("crash.work") for _ in range(400)])
    crash.wait_all_acked()

    # Then no lease was lost (each task ran once), and the worker did not say one was
    assert crash.check_invariants() == dict.fromkeys(crash.sent, "acked")
    assert set(crash.tally("started").values()) == {1}
    assert "was lost" not in worker.log()

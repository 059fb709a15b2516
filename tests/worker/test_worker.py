"""Worker: consuming, settling, lease renewal and recovery with real threads.

The broker runs on a fake clock, so leases and ETAs move only when a test moves them. Tests wait on
events their tasks set, on hook counts, or on ``worker.stats`` against a deadline; none sleeps.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from typing import TYPE_CHECKING

import pytest

from taskq_core import ConfigurationError, Message, Retry, Worker

if TYPE_CHECKING:
    from taskq_core import FakeClock, Taskq
    from taskq_memory import MemoryBroker

LEASE = 60.0


def settled(broker: MemoryBroker, queue: str = "default") -> tuple[int, int, int, int]:
    counts = broker.counts(queue)
    return counts.ready, counts.scheduled, counts.processing, counts.dead


@pytest.mark.parametrize("pool", ["threads", "solo"])
def test_tasks_run_and_are_acked(app: Taskq, broker: MemoryBroker, make_worker, wait_until, pool):
    # Given ten calls of a task that records its argument
    seen: list[int] = []
    lock = threading.Lock()

    @app.task(name="tests.record")
    def record(n: int) -> None:
        with lock:
            seen.append(n)

    record.delay_many([(n,) for n in range(10)])

    # When a worker consumes the queue
    worker = make_worker(pool=pool, concurrency=3)
    wait_until(lambda: worker.stats["acked"] == 10)

    # Then every call ran once and the broker is empty
    assert sorted(seen) == list(range(10))
    assert settled(broker) == (0, 0, 0, 0)


def test_failing_task_is_retried_max_retries_times_then_dead(
    app: Taskq, broker: MemoryBroker, make_worker, wait_until
):
    # Given a task that always fails, with 3 retries and no backoff wait
    calls: list[int] = []

    @app.task(name="tests.doomed", max_retries=3, default_retry_delay=0.0)
    def doomed() -> None:
        calls.append(1)
        raise ValueError("still broken")

    doomed.delay()

    # When a worker runs it
    worker = make_worker()
    wait_until(lambda: worker.stats["dead"] == 1)

    # Then it ran 1 + 3 times and lies in DEAD with the exception and traceback
    assert len(calls) == 4
    assert worker.stats["retried"] == 3
    [letter] = broker.list_dead("default")
    assert letter.reason.startswith("retries exhausted (3): ValueError: still broken\n")
    assert "Traceback (most recent call last)" in letter.reason
    assert settled(broker) == (0, 0, 0, 1)


def test_retry_waits_in_scheduled_until_the_clock_reaches_it(
    app: Taskq, broker: MemoryBroker, clock: FakeClock, make_worker, wait_until, events
):
    # Given a task that fails once, with a 5 s backoff and no jitter
    calls: list[int] = []

    @app.task(name="tests.once", default_retry_delay=5.0, retry_jitter=False)
    def once() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("reset by peer")

    once.delay()
    worker = make_worker()

    # When the first attempt fails, then the message waits in SCHEDULED and nothing runs
    wait_until(lambda: worker.stats["retried"] == 1)
    assert settled(broker) == (0, 1, 0, 0)

    # When the fake clock reaches the retry's ETA, then the worker runs it again
    clock.advance(5.0)
    wait_until(lambda: worker.stats["acked"] == 1)
    assert len(calls) == 2
    assert events.counts["retried"] == 1


def test_retry_request_with_zero_delay_runs_again(
    app: Taskq, broker: MemoryBroker, make_worker, wait_until
):
    # Given a task that asks for an immediate retry once
    calls: list[int] = []

    @app.task(name="tests.again", default_retry_delay=100.0)
    def again() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise Retry(delay=0.0)

    again.delay()

    # When a worker runs it, then it runs again at once (not after the 100 s policy delay)
    worker = make_worker()
    wait_until(lambda: worker.stats["acked"] == 1)
    assert worker.stats["retried"] == 1
    assert len(calls) == 2


def test_unknown_task_goes_to_dead_and_the_worker_goes_on(
    app: Taskq, broker: MemoryBroker, make_worker, wait_until
):
    # Given a message for an unregistered task, followed by a good one
    @app.task(name="tests.good")
    def good() -> None: ...

    app.send_message(Message.build(task="tests.ghost"))
    good.delay()

    # When a worker consumes them
    worker = make_worker(concurrency=1)
    wait_until(lambda: worker.stats["acked"] == 1 and worker.stats["dead"] == 1)

    # Then the unknown one is DEAD with a reason naming it
    [letter] = broker.list_dead("default")
    assert "unknown task 'tests.ghost'" in letter.reason


def test_undecodable_payload_goes_to_dead_and_the_worker_goes_on(
    app: Taskq, broker: MemoryBroker, make_worker, wait_until
):
    # Given a payload that is not a taskq message, followed by a good message
    @app.task(name="tests.good")
    def good() -> None: ...

    broker.inject_raw("default", "garbage-1", "{this is not json")
    good.delay()

    # When a worker consumes the queue
    worker = make_worker(concurrency=1)
    wait_until(lambda: worker.stats["acked"] == 1)

    # Then the garbage is DEAD with the decode error, its raw text kept, and nothing else is left
    [letter] = broker.list_dead("default")
    assert (letter.id, letter.payload, letter.message) == ("garbage-1", "{this is not json", None)
    assert "undecodable payload" in letter.reason
    assert settled(broker) == (0, 0, 0, 1)


def test_task_calling_sys_exit_does_not_stall_the_worker(
    app: Taskq, broker: MemoryBroker, make_worker, wait_until
):
    # Given a task that calls sys.exit, followed by a good task, on a single pool thread
    @app.task(name="tests.quits")
    def quits() -> None:
        sys.exit("bye")

    @app.task(name="tests.good")
    def good() -> None: ...

    quits.delay()
    good.delay()

    # When a worker with one thread consumes them
    worker = make_worker(concurrency=1, prefetch=0)
    wait_until(lambda: worker.stats["acked"] == 1)

    # Then the exiting task is DEAD, the good one ran, and the worker holds nothing
    assert worker.stats["dead"] == 1
    assert worker.held == []
    assert settled(broker) == (0, 0, 0, 1)


def test_heartbeat_renews_the_lease_of_a_long_task(
    broker: MemoryBroker, clock: FakeClock, make_worker, gated, wait_until, wait_for, events
):
    # Given a task that blocks until released, running on a worker whose heartbeat ticks often
    gated.task.delay()
    worker = make_worker(heartbeat_interval=0.01, visibility_timeout=LEASE)
    wait_for(gated.started)

    # When fake time passes most of the lease, and two heartbeats begin after that
    clock.advance(LEASE * 0.75)
    seen = events.heartbeats_of(worker)
    wait_until(lambda: events.heartbeats_of(worker) >= seen + 2)
    clock.advance(LEASE * 0.75)

    # Then the original lease deadline has passed, but the reaper finds nothing to take back
    assert not broker.recover_expired("default")
    assert settled(broker) == (0, 0, 1, 0)

    # And when the task finishes, its ack is accepted
    gated.release.set()
    wait_until(lambda: worker.stats["acked"] == 1)
    assert settled(broker) == (0, 0, 0, 0)


def test_without_heartbeats_an_expired_lease_is_recovered(
    broker: MemoryBroker, clock: FakeClock, make_worker, gated, wait_until, wait_for, events
):
    # Given a long task on a worker whose heartbeat ticked once, at start, and not since
    gated.task.delay()
    worker = make_worker(visibility_timeout=LEASE)
    wait_for(gated.started)
    wait_until(lambda: events.heartbeats_of(worker) == 1)

    # When fake time passes the lease
    clock.advance(LEASE + 1)

    # Then the reaper hands the message back, and the late ack is refused
    assert len(broker.recover_expired("default").requeued) == 1
    gated.release.set()
    wait_until(lambda: worker.stats["lost"] == 1)


def test_lost_lease_is_finished_by_the_new_owner(
    app: Taskq, broker: MemoryBroker, clock: FakeClock, make_worker, wait_until, wait_for, events
):
    # Given worker A (no free slot) stuck in the first call of a task, past its lease, and the
    # lease recovered
    first_started, release_first = threading.Event(), threading.Event()
    calls: list[str] = []
    lock = threading.Lock()

    @app.task(name="tests.charge")
    def charge() -> None:
        with lock:
            calls.append(threading.current_thread().name)
            first = len(calls) == 1
        if first:
            first_started.set()
            wait_for(release_first)

    charge.delay()
    worker_a = make_worker(name="worker-a", visibility_timeout=LEASE, concurrency=1, prefetch=0)
    wait_for(first_started)
    wait_until(lambda: events.heartbeats_of(worker_a) == 1)
    clock.advance(LEASE + 1)
    assert len(broker.recover_expired("default").requeued) == 1

    # When worker B takes the message over and finishes it
    worker_b = make_worker(name="worker-b", visibility_timeout=LEASE)
    wait_until(lambda: worker_b.stats["acked"] == 1)

    # Then worker A's late ack returns False: counted as lost, and nothing is left behind
    release_first.set()
    wait_until(lambda: worker_a.stats["lost"] == 1)
    assert worker_a.stats["acked"] == 0
    assert len(calls) == 2
    assert settled(broker) == (0, 0, 0, 0)


def test_message_whose_lease_keeps_expiring_ends_in_dead(
    app: Taskq, broker: MemoryBroker, clock: FakeClock
):
    # Given a task allowing 2 lost leases, and workers that reserve it and then vanish
    @app.task(name="tests.crashy", max_deliveries=2)
    def crashy() -> None: ...

    crashy.delay()

    # When its lease expires twice and the reaper runs each time
    reports = []
    for crashed_worker in ("crash-1", "crash-2"):
        broker.reserve(["default"], worker_id=crashed_worker, lease=LEASE)
        clock.advance(LEASE + 1)
        reports.append(broker.recover_expired("default"))

    # Then the first loss requeues it and the second buries it with a reason naming the count
    assert [len(r.requeued) for r in reports] == [1, 0]
    assert [len(r.dead) for r in reports] == [0, 1]
    [letter] = broker.list_dead("default")
    assert "max_deliveries=2" in letter.reason


def test_worker_reaper_recovers_leases_of_a_dead_worker(
    app: Taskq, broker: MemoryBroker, clock: FakeClock, make_worker, wait_until
):
    # Given a message reserved by a worker that then died without a word
    ran = threading.Event()

    @app.task(name="tests.survivor")
    def survivor() -> None:
        ran.set()

    survivor.delay()
    broker.reserve(["default"], worker_id="crashed", lease=LEASE)
    clock.advance(LEASE + 1)

    # When a live worker starts (its reaper ticks at start)
    worker = make_worker()

    # Then it recovers the expired lease and runs the message
    wait_until(lambda: worker.stats["acked"] == 1)
    assert ran.is_set()


def test_worker_reaper_buries_a_message_at_its_max_deliveries(
    app: Taskq, broker: MemoryBroker, clock: FakeClock, make_worker, wait_until
):
    # Given a message allowed one lost lease, reserved by a worker that then died
    ran = threading.Event()

    @app.task(name="tests.poison", max_deliveries=1)
    def poison() -> None:
        ran.set()

    poison.delay()
    broker.reserve(["default"], worker_id="crashed", lease=LEASE)
    clock.advance(LEASE + 1)

    # When a live worker starts (its reaper ticks at start)
    make_worker()

    # Then the message goes to DEAD with a reason naming the limit, and never runs again
    wait_until(lambda: broker.counts("default").dead == 1)
    [letter] = broker.list_dead("default")
    assert "max_deliveries=1" in letter.reason
    assert not ran.is_set()


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"heartbeat_interval": 20.0, "visibility_timeout": 30.0}, "half the visibility_timeout"),
        ({"pool": "gevent"}, "unknown pool 'gevent'"),
        ({"concurrency": 0}, "concurrency"),
        ({"prefetch": -1}, "prefetch"),
        ({"queues": ["bad name"]}, "invalid queue name"),
        ({"queues": []}, "at least one queue"),
    ],
)
def test_bad_worker_configuration_is_refused(app: Taskq, options, match):
    # Given a worker setting that cannot work, when the worker is built, then it is refused
    with pytest.raises(ConfigurationError, match=match):
        Worker(app, **options)


def test_worker_consumes_the_apps_queues_by_default(broker: MemoryBroker):
    # Given an app with a route and a task on its own queue
    from taskq_core import Taskq

    app = Taskq(broker, routes={"reports.*": "slow"})

    @app.task(queue="urgent")
    def urgent() -> None: ...

    # When a worker is built without queues, then it consumes all of them, default first
    assert Worker(app).queues == ["default", "slow", "urgent"]


def test_a_single_queue_name_is_one_queue(app: Taskq):
    # Given a worker given one queue as a string, then it is one queue, not its letters
    assert Worker(app, queues="reports").queues == ["reports"]


def test_worker_registers_its_heartbeat_and_forgets_it_on_stop(
    app: Taskq, broker: MemoryBroker, make_worker, wait_until, events
):
    # Given a running worker that has sent its first heartbeat
    worker = make_worker(name="visible")
    wait_until(lambda: events.heartbeats_of(worker) >= 1)
    assert [w.worker_id for w in broker.list_alive_workers(within=60)] == ["visible"]

    # When it stops, then it is no longer listed as alive
    assert worker.stop(timeout=5)
    assert broker.list_alive_workers(within=60) == []


def test_heartbeat_reports_host_pid_pool_and_in_flight_count(
    broker: MemoryBroker, make_worker, gated, wait_until, wait_for, events
):
    # Given a worker running a task that blocks until released
    gated.task.delay()
    worker = make_worker(name="reporter", heartbeat_interval=0.01)
    wait_for(gated.started)

    # When a heartbeat is sent while the task runs
    seen = events.heartbeats_of(worker)
    wait_until(lambda: events.heartbeats_of(worker) >= seen + 1)

    # Then the broker's worker record says where it runs and what it holds
    (info,) = broker.list_alive_workers(within=60)
    assert (info.worker_id, info.hostname, info.pid) == (
        "reporter",
        socket.gethostname(),
        os.getpid(),
    )
    assert (info.pool, info.in_flight) == (worker.pool_name, 1)
    gated.release.set()
    wait_until(lambda: worker.stats["acked"] == 1)

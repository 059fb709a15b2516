"""DeliveryRunner: one delivery in, exactly one fenced broker call out (ack, retry or dead).

These tests reserve deliveries by hand and run them, so the fake clock alone decides when a retry
is due: no worker threads, no waiting.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import pytest

from taskq_core import Message, Retry
from taskq_core.worker.failures import MAX_TRACEBACK_CHARS
from taskq_core.worker.runner import DeliveryRunner

if TYPE_CHECKING:
    from taskq_core import Delivery, FakeClock, Taskq
    from taskq_memory import MemoryBroker

WORKER = "worker-a"
OTHER_WORKER = "worker-b"
LEASE = 30.0


@pytest.fixture
def runner(app: Taskq, broker: MemoryBroker) -> DeliveryRunner:
    return DeliveryRunner(app, broker)


def reserve_one(broker: MemoryBroker, worker: str = WORKER) -> Delivery:
    [delivery] = broker.reserve(["default"], worker_id=worker, lease=LEASE)
    return delivery


def nothing_reservable(broker: MemoryBroker) -> bool:
    return broker.reserve(["default"], worker_id=WORKER, lease=LEASE) == []


def test_success_is_acked_and_leaves_the_broker(app: Taskq, broker: MemoryBroker, runner):
    # Given a task that succeeds
    @app.task(name="tests.add")
    def add(x: int, y: int) -> int:
        return x + y

    add.delay(1, 2)

    # When its delivery runs
    outcome = runner.run(reserve_one(broker))

    # Then it is acked and nothing is left
    assert outcome == "acked"
    counts = broker.counts("default")
    assert (counts.ready, counts.scheduled, counts.processing, counts.dead) == (0, 0, 0, 0)


def test_retry_delays_follow_the_backoff_then_the_message_dies(
    app: Taskq, broker: MemoryBroker, clock: FakeClock, runner
):
    # Given a task that always fails, with 3 retries, backoff from 1 s and no jitter
    @app.task(name="tests.flaky", max_retries=3, default_retry_delay=1.0, retry_jitter=False)
    def flaky() -> None:
        raise ValueError("upstream said no")

    flaky.delay()
    waits: list[float] = []

    # When each failure is retried and the clock is moved to the next attempt
    for expected_wait in (1.0, 2.0, 4.0):
        assert runner.run(reserve_one(broker)) == "retried"
        assert broker.counts("default").scheduled == 1
        clock.advance(expected_wait - 0.01)
        assert nothing_reservable(broker), "retried before its backoff ran out"
        clock.advance(0.01)
        waits.append(expected_wait)

    # Then after the three retries (1 s, 2 s, 4 s apart) the fourth failure goes to DEAD
    assert waits == [1.0, 2.0, 4.0]
    assert runner.run(reserve_one(broker)) == "dead"
    [letter] = broker.list_dead("default")
    assert letter.retries == 3


def test_dead_reason_has_the_exception_type_message_and_traceback(
    app: Taskq, broker: MemoryBroker, runner
):
    # Given a task that fails with no retries left
    @app.task(name="tests.broken", max_retries=0)
    def broken() -> None:
        raise ValueError("card declined")

    broken.delay()

    # When it runs
    assert runner.run(reserve_one(broker)) == "dead"

    # Then the reason says why, by which exception, with the traceback through the task
    [letter] = broker.list_dead("default")
    first_line, _, rest = letter.reason.partition("\n")
    assert first_line == "retries exhausted (0): ValueError: card declined"
    assert "Traceback (most recent call last)" in rest
    assert "in broken" in rest


def test_huge_traceback_is_cut_to_its_tail(app: Taskq, broker: MemoryBroker, runner):
    # Given a task whose exception message is enormous
    @app.task(name="tests.loud", max_retries=0)
    def loud() -> None:
        raise ValueError("x" * (MAX_TRACEBACK_CHARS * 2))

    loud.delay()

    # When it dies, then the reason stays bounded
    runner.run(reserve_one(broker))
    [letter] = broker.list_dead("default")
    assert len(letter.reason) < MAX_TRACEBACK_CHARS * 4
    assert letter.reason.startswith("retries exhausted (0): ValueError: xxx")


def test_retries_used_so_far_count_against_the_limit(app: Taskq, broker: MemoryBroker, runner):
    # Given a task with 2 retries that has failed twice already (no backoff, no waiting)
    calls: list[int] = []

    @app.task(name="tests.twice", max_retries=2, default_retry_delay=0.0)
    def twice() -> None:
        calls.append(1)
        raise RuntimeError("again")

    twice.delay()
    outcomes = [runner.run(reserve_one(broker)) for _ in range(3)]

    # Then it ran 3 times: retried exactly max_retries times, then DEAD
    assert outcomes == ["retried", "retried", "dead"]
    assert len(calls) == 3


def test_per_call_max_retries_overrides_the_tasks(app: Taskq, broker: MemoryBroker, runner):
    # Given a task allowing 5 retries, sent with max_retries=0 for this call
    @app.task(name="tests.once", max_retries=5)
    def once() -> None:
        raise RuntimeError("no")

    once.apply_async(max_retries=0)

    # When it fails, then it dies at once
    assert runner.run(reserve_one(broker)) == "dead"


def test_unknown_task_goes_to_dead_with_the_name(app: Taskq, broker: MemoryBroker, runner):
    # Given a message for a task this app does not have
    @app.task(name="tests.known")
    def known() -> None: ...

    broker.send(Message.build(task="tests.forgotten"))

    # When it runs
    assert runner.run(reserve_one(broker)) == "dead"

    # Then the reason names the missing task and the known ones
    [letter] = broker.list_dead("default")
    assert "unknown task 'tests.forgotten'" in letter.reason
    assert "tests.known" in letter.reason


def test_retry_request_uses_its_own_delay(
    app: Taskq, broker: MemoryBroker, clock: FakeClock, runner
):
    # Given a task that asks to run again in 7 s on its first call
    calls: list[int] = []

    @app.task(name="tests.later", default_retry_delay=1.0, retry_jitter=False)
    def later() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise Retry(delay=7.0, reason="rate limited")
        return "done"

    later.delay()

    # When it runs
    assert runner.run(reserve_one(broker)) == "retried"

    # Then it waits 7 s (not the policy's 1 s) and then succeeds
    clock.advance(6.9)
    assert nothing_reservable(broker)
    clock.advance(0.1)
    assert runner.run(reserve_one(broker)) == "acked"


def test_retry_request_is_retried_even_for_types_not_in_retry_for(
    app: Taskq, broker: MemoryBroker, runner
):
    # Given a task that retries only ConnectionError, asking for an explicit retry
    @app.task(name="tests.explicit", retry_for=(ConnectionError,))
    def explicit() -> None:
        raise Retry(delay=0.0)

    explicit.delay()

    # When it runs, then the request is honoured
    assert runner.run(reserve_one(broker)) == "retried"


def test_no_retry_for_goes_to_dead_at_once(app: Taskq, broker: MemoryBroker, runner):
    # Given a task with retries left whose KeyError is declared not worth retrying
    @app.task(name="tests.lookup", max_retries=5, no_retry_for=(KeyError,))
    def lookup() -> None:
        raise KeyError("customer-9")

    lookup.delay()

    # When it fails
    assert runner.run(reserve_one(broker)) == "dead"

    # Then it is DEAD on the first failure, with the exception but without "retries exhausted"
    [letter] = broker.list_dead("default")
    assert letter.reason.startswith("KeyError: 'customer-9'")
    assert letter.retries == 0


def test_exception_outside_retry_for_goes_to_dead_at_once(app: Taskq, broker: MemoryBroker, runner):
    # Given a task that retries only connection errors, failing with a ValueError
    @app.task(name="tests.parse", max_retries=5, retry_for=(ConnectionError,))
    def parse() -> None:
        raise ValueError("bad input")

    parse.delay()

    # When it fails, then it dies at once
    assert runner.run(reserve_one(broker)) == "dead"


def test_task_calling_sys_exit_is_a_failure_not_a_crash(app: Taskq, broker: MemoryBroker, runner):
    # Given a task that calls sys.exit (a bug in the task, not a reason to kill a pool thread)
    @app.task(name="tests.quits")
    def quits() -> None:
        sys.exit(3)

    quits.delay()

    # When it runs, then the runner settles it (SystemExit is not retried by default)
    assert runner.run(reserve_one(broker)) == "dead"
    [letter] = broker.list_dead("default")
    assert letter.reason.startswith("SystemExit: 3")


def test_ack_after_losing_the_lease_is_refused_and_the_new_owner_finishes(
    app: Taskq, broker: MemoryBroker, clock: FakeClock, runner
):
    # Given a delivery whose lease expired, was recovered and handed to another worker
    runs: list[str] = []

    @app.task(name="tests.idempotent")
    def idempotent(order: int) -> None:
        runs.append(f"order {order}")

    idempotent.delay(7)
    stale = reserve_one(broker, WORKER)
    clock.advance(LEASE + 1)
    assert broker.recover_expired("default").requeued == (stale.id,)
    fresh = reserve_one(broker, OTHER_WORKER)

    # When the first worker finishes late, its ack is fenced off
    assert runner.run(stale) == "lost"
    assert broker.counts("default").processing == 1

    # Then the new owner runs it and acks it (at least once: the task ran twice)
    assert runner.run(fresh) == "acked"
    assert broker.counts("default").processing == 0
    assert runs == ["order 7", "order 7"]


def test_retry_after_losing_the_lease_changes_nothing(
    app: Taskq, broker: MemoryBroker, clock: FakeClock, runner
):
    # Given a failing task whose delivery was taken over by another worker
    @app.task(name="tests.fails")
    def fails() -> None:
        raise RuntimeError("boom")

    fails.delay()
    stale = reserve_one(broker, WORKER)
    clock.advance(LEASE + 1)
    broker.recover_expired("default")
    reserve_one(broker, OTHER_WORKER)

    # When the stale delivery fails, its retry is fenced off
    assert runner.run(stale) == "lost"

    # Then the new owner still holds it, with no retry counted
    counts = broker.counts("default")
    assert (counts.processing, counts.scheduled, counts.ready) == (1, 0, 0)

"""``taskq_worker.drain()`` / ``app.run_until_idle()`` run everything due, jumping a fake clock."""

from __future__ import annotations

import pytest

from taskq_core.worker.drain import DrainLimitExceeded


def test_drain_runs_ready_tasks_and_stores_their_results(taskq_app, taskq_worker):
    @taskq_app.task
    def add(a: int, b: int) -> int:
        return a + b

    results = [add.delay(i, i) for i in range(5)]

    outcomes = taskq_worker.drain()

    assert outcomes == {"acked": 5}
    assert [r.get(timeout=0) for r in results] == [0, 2, 4, 6, 8]
    assert taskq_app.broker.counts(taskq_app.default_queue).ready == 0


def test_drain_jumps_the_fake_clock_to_each_countdown_in_order(
    taskq_app, taskq_worker, taskq_clock
):
    ran_at: list[tuple[str, float]] = []
    start = taskq_clock.now()

    @taskq_app.task
    def note(label: str) -> None:
        ran_at.append((label, taskq_clock.now() - start))

    note.apply_async(args=("in an hour",), countdown=3600)
    note.apply_async(args=("in a minute",), countdown=60)
    note.delay("now")

    taskq_worker.drain()

    assert ran_at == [("now", 0.0), ("in a minute", 60.0), ("in an hour", 3600.0)]


def test_drain_runs_retries_after_their_delay_until_success(taskq_app, taskq_worker):
    failures = {"left": 3}

    @taskq_app.task(max_retries=5, default_retry_delay=120.0)
    def flaky() -> str:
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("try again")
        return "done"

    result = flaky.delay()

    outcomes = taskq_worker.drain()

    assert outcomes == {"retried": 3, "acked": 1}
    assert result.get(timeout=0) == "done"


def test_drain_buries_a_task_that_keeps_failing(taskq_app, taskq_worker):
    @taskq_app.task(max_retries=2)
    def broken() -> None:
        raise ValueError("always")

    broken.delay()

    assert taskq_worker.drain() == {"retried": 2, "dead": 1}
    assert taskq_app.broker.counts(taskq_app.default_queue).dead == 1


def test_drain_runs_tasks_that_tasks_send(taskq_app, taskq_worker):
    seen: list[int] = []

    @taskq_app.task
    def leaf(n: int) -> None:
        seen.append(n)

    @taskq_app.task
    def fan_out(n: int) -> None:
        for i in range(n):
            leaf.apply_async(args=(i,), countdown=i * 10)

    fan_out.delay(3)

    assert taskq_app.run_until_idle() == {"acked": 4}
    assert seen == [0, 1, 2]


def test_drain_only_touches_the_queues_it_is_given(taskq_app, taskq_worker):
    @taskq_app.task(queue="reports")
    def report() -> None: ...

    @taskq_app.task
    def mail() -> None: ...

    report.delay()
    mail.delay()

    assert taskq_worker.drain(["reports"]) == {"acked": 1}
    assert taskq_app.broker.counts(taskq_app.default_queue).ready == 1
    assert taskq_worker.stats == {"acked": 1}


def test_drain_gives_up_on_a_task_that_resends_itself_forever(taskq_app, taskq_worker):
    @taskq_app.task
    def forever() -> None:
        forever.apply_async(countdown=1)

    forever.delay()

    with pytest.raises(DrainLimitExceeded, match="max_tasks"):
        taskq_worker.drain(max_tasks=20)
    # The delivery it stopped at went back to the queue, not lost.
    counts = taskq_app.broker.counts(taskq_app.default_queue)
    assert counts.ready + counts.scheduled == 1
    assert counts.processing == 0

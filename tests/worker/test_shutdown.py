"""Graceful shutdown in-process: stop() releases prefetched work, lets running work finish."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import pytest

from taskq_core import Worker

if TYPE_CHECKING:
    from taskq_core import Taskq
    from taskq_memory import MemoryBroker


def test_stop_releases_prefetched_work_and_lets_the_running_task_finish(
    broker: MemoryBroker, make_worker, gated, wait_until, wait_for
):
    # Given one slot and five prefetched deliveries behind a first task that blocks
    gated.task.delay_many([(n,) for n in range(6)])
    worker = make_worker(concurrency=1, prefetch=5)
    wait_for(gated.started)
    wait_until(lambda: len(worker.held) == 6)

    # When the worker is asked to stop (on another thread: stop waits for the running task)
    result: list[bool] = []
    stopper = threading.Thread(target=lambda: result.append(worker.stop(timeout=10)))
    stopper.start()

    # Then the five prefetched ones go back to READY while the first still runs
    wait_until(lambda: broker.counts("default").ready == 5)
    assert broker.counts("default").processing == 1
    assert gated.ran == [0]

    # And when the running task finishes, it is acked and stop() reports a clean shutdown
    gated.release.set()
    stopper.join(10)
    assert result == [True]
    counts = broker.counts("default")
    assert (counts.ready, counts.processing, counts.scheduled) == (5, 0, 0)
    assert worker.stats["acked"] == 1


def test_released_deliveries_come_back_in_order_without_a_retry(
    broker: MemoryBroker, make_worker, gated, wait_until, wait_for
):
    # Given two deliveries prefetched behind a blocked first task
    gated.task.delay_many([(n,) for n in range(3)])
    worker = make_worker(concurrency=1, prefetch=2)
    wait_for(gated.started)
    wait_until(lambda: len(worker.held) == 3)

    # When a graceful stop releases them and the first task then finishes
    stopper = threading.Thread(target=worker.stop, kwargs={"timeout": 10})
    stopper.start()
    wait_until(lambda: broker.counts("default").ready == 2)
    gated.release.set()
    stopper.join(10)

    # Then they are next in line, in their original order, with no retry counted
    again = broker.reserve(["default"], worker_id="next", lease=30.0, limit=10)
    assert [(d.message.args, d.retries) for d in again] == [((1,), 0), ((2,), 0)]


def test_stop_reports_a_task_still_running_after_the_timeout(
    broker: MemoryBroker, make_worker, gated, wait_for
):
    # Given a task that does not finish
    gated.task.delay()
    worker = make_worker(concurrency=1)
    wait_for(gated.started)

    # When the worker is stopped with no time to wait
    clean = worker.stop(timeout=0)

    # Then stop() says so, and the message stays in PROCESSING for its lease to bring back
    assert clean is False
    assert broker.counts("default").processing == 1


def test_solo_pool_stop_lets_the_running_task_finish(
    broker: MemoryBroker, make_worker, gated, wait_for
):
    # Given a solo worker (tasks run on the consumer thread) running a blocked task
    gated.task.delay()
    gated.task.delay(1)
    worker = make_worker(pool="solo")
    wait_for(gated.started)

    # When it is stopped while the task runs, and the task then finishes
    result: list[bool] = []
    stopper = threading.Thread(target=lambda: result.append(worker.stop(timeout=10)))
    stopper.start()
    gated.release.set()
    stopper.join(10)

    # Then the running task was acked and the second one was never started
    assert result == [True]
    assert worker.stats["acked"] == 1
    counts = broker.counts("default")
    assert (counts.ready, counts.processing) == (1, 0)


def test_idle_worker_stops_cleanly(make_worker):
    # Given a worker with nothing to do
    worker = make_worker()

    # When it is stopped, then the shutdown is clean and it says it stopped
    assert worker.stop(timeout=5)
    assert worker.wait_stopped(timeout=0)


def test_a_worker_starts_once(app: Taskq, make_worker):
    # Given a started worker, when it is started again, then it refuses
    worker = make_worker()
    with pytest.raises(RuntimeError, match="once"):
        worker.start()


def test_stop_before_start_is_a_no_op(app: Taskq):
    # Given a worker never started, when it is stopped, then nothing happens and it is clean
    assert Worker(app).stop(timeout=0)

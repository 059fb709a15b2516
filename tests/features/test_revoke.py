"""Revoke with ``terminate=True`` stops a running task in every pool, and it is not retried.

Each task would run for 60 s; the test waits at most ``STOPPED_WITHIN`` (10 s) for the REVOKED
result, so a task that was not stopped fails the test (no wall-clock assertion: a 60 s task that
ends within 10 s was stopped). Then the message is gone from the broker (nothing left to retry),
no retry was recorded, and the task started exactly once.

The threads pool raises ``TaskTerminated`` in the task's thread, which lands at the next Python
bytecode (as for time limits): its task sleeps 60 s in 0.1 s steps. An ``async def`` task is
cancelled inside one ``asyncio.sleep(60)``; a processes-pool child is killed inside one
``time.sleep(60)``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import TYPE_CHECKING

import pytest

from taskq_core import TaskRevoked, Worker

from ..support.waiting import wait_for, wait_until
from . import pool_app

if TYPE_CHECKING:
    from pathlib import Path

    from taskq_core import AsyncResult, BaseBroker, Taskq

    from ..support.recording import TaskEvents

#: Longest wait for the REVOKED result; the task would run 60 s if it were not stopped.
STOPPED_WITHIN = 10.0
#: Seconds each task would run.
TASK_SECONDS = 60.0


def assert_revoked_once(
    handle: AsyncResult, broker: BaseBroker, queue: str, events: TaskEvents
) -> None:
    """The task ended REVOKED, left the broker, started once and was never retried."""
    with pytest.raises(TaskRevoked):
        handle.get(timeout=STOPPED_WITHIN)
    assert handle.status == "REVOKED"
    wait_until(lambda: broker.counts(queue).processing == 0)
    assert broker.message_info(queue, handle.id) is None
    counts = broker.counts(queue)
    assert (counts.ready, counts.scheduled, counts.dead, counts.revoked) == (0, 0, 0, 1)
    assert events.started[handle.id] == 1
    assert handle.id not in events.retried


def test_threads_pool_terminates_a_running_task(
    app: Taskq, broker: BaseBroker, make_worker, events: TaskEvents
) -> None:
    # Given a threads-pool worker running a 60 s task
    started = threading.Event()

    @app.task(name="features.revoke.spin")
    def spin() -> str:
        started.set()
        deadline = time.monotonic() + TASK_SECONDS
        while time.monotonic() < deadline:
            time.sleep(0.1)
        return "finished"

    make_worker(app, pool="threads", concurrency=2)
    handle = spin.delay()
    wait_for(started)

    # When it is revoked with terminate
    assert handle.revoke(terminate=True) == "running"

    # Then it ends REVOKED, and is not retried
    assert_revoked_once(handle, broker, "default", events)


def test_async_task_is_cancelled(
    app: Taskq, broker: BaseBroker, make_worker, events: TaskEvents
) -> None:
    # Given a worker running an async task that awaits 60 s
    started = threading.Event()

    @app.task(name="features.revoke.nap")
    async def nap() -> str:
        started.set()
        await asyncio.sleep(TASK_SECONDS)
        return "finished"

    make_worker(app, pool="threads", concurrency=2)
    handle = nap.delay()
    wait_for(started)

    # When it is revoked with terminate, through the app and without naming the queue
    assert app.revoke(handle.id, terminate=True) == "running"

    # Then it is cancelled, ends REVOKED, and is not retried
    assert_revoked_once(handle, broker, "default", events)


def test_processes_pool_kills_the_child_and_replaces_it(
    in_rootdir: Path,
    broker: BaseBroker,
    make_worker,
    tmp_path: Path,
    events: TaskEvents,
) -> None:
    # Given a processes-pool worker whose child sleeps 60 s in one C call
    pool_app.app.use_broker(broker)
    make_worker(pool_app.app, pool="processes", concurrency=1)
    handle = pool_app.sleep_long.delay(str(tmp_path))
    wait_until(lambda: len(pool_app.runs(str(tmp_path))) == 1)
    [child] = pool_app.runs(str(tmp_path))

    # When it is revoked with terminate
    assert handle.revoke(terminate=True) == "running"

    # Then the child is killed, the task ends REVOKED and is not retried
    assert_revoked_once(handle, broker, "default", events)
    # And a new child runs the next task
    assert pool_app.whoami.delay().get(timeout=STOPPED_WITHIN) != child


def test_revoking_a_queued_task_means_it_never_runs(
    app: Taskq, broker: BaseBroker, make_worker, events: TaskEvents
) -> None:
    # Given a task sent while no worker runs
    @app.task(name="features.revoke.never")
    def never() -> str:
        return "ran"

    handle = never.delay()

    # When it is revoked and a worker starts afterwards
    assert handle.revoke() == "revoked"
    worker: Worker = make_worker(app, pool="threads", concurrency=1)
    done = never.delay()
    assert done.get(timeout=STOPPED_WITHIN) == "ran"

    # Then the revoked one never started
    with pytest.raises(TaskRevoked):
        handle.get(timeout=0)
    assert events.started[handle.id] == 0
    assert worker is not None

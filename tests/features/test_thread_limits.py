"""Time limits in the worker's own process (threads pool), and ``async def`` tasks.

A thread cannot be killed: the hard limit raises ``TimeLimitExceeded`` at the task thread's next
bytecode, so these tasks are pure-Python loops (a blocking C call is the processes pool's job,
see ``test_process_pool.py``). Each loop gives up by itself after ``RUNAWAY`` seconds, so a limit
that never fires fails the test instead of leaving a thread spinning forever. ``async def`` tasks
share one event loop per worker, where a hard limit cancels the coroutine. A task that holds the
GIL in C freezes the whole worker, and the heartbeat says so once it can run again.

The broker does not matter here, so these run on memory only.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import threading
import time
from typing import TYPE_CHECKING

import pytest

from taskq_core import SoftTimeLimitExceeded, TaskError

from ..support.waiting import WAIT_TIMEOUT, wait_for, wait_until

if TYPE_CHECKING:
    from taskq_core import BaseBroker, Taskq

    from ..support.recording import TaskEvents

pytestmark = pytest.mark.parametrize("backend", ["memory"], indirect=True)

#: Seconds a looping task runs when no limit stops it; far beyond every limit used here.
RUNAWAY = 20.0


#: Microseconds one C call of ``hold_gil`` keeps the GIL: several heartbeats of the worker below.
GIL_HOLD_US = 500_000


def hold_gil(microseconds: int) -> None:
    """Sleep in C without releasing the GIL (``ctypes.PyDLL`` keeps it): a C-level loop."""
    ctypes.PyDLL(None).usleep(microseconds)


class WarningSeen(logging.Handler):
    """Sets ``seen`` at the first WARNING whose message contains ``words``."""

    def __init__(self, words: str) -> None:
        super().__init__(logging.WARNING)
        self.words = words
        self.seen = threading.Event()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if self.words in message:
            self.messages.append(message)
            self.seen.set()


def spin(until: float) -> int:
    """A pure-Python busy loop until ``until`` (monotonic); returns the iterations made."""
    turns = 0
    while time.monotonic() < until:
        turns += 1
    return turns


def test_a_busy_loop_past_its_time_limit_is_stopped_retried_and_buried(
    app: Taskq, broker: BaseBroker, make_worker, events: TaskEvents
):
    # Given a pure-Python busy loop with a 0.3 s hard limit and one retry
    finished = threading.Event()

    @app.task(name="features.busy", time_limit=0.3, max_retries=1, default_retry_delay=0.0)
    def busy() -> None:
        spin(time.monotonic() + RUNAWAY)
        finished.set()

    handle = busy.delay()

    # When a worker runs it
    make_worker(app)
    with pytest.raises(TaskError) as raised:
        handle.get(timeout=WAIT_TIMEOUT)

    # Then both deliveries were stopped by the limit: one retry, then DEAD, never finished
    assert raised.value.exc_type == "TimeLimitExceeded"
    assert events.retried[handle.id] == ["TimeLimitExceeded: time limit exceeded"]
    [letter] = broker.list_dead("default")
    assert letter.reason.startswith("retries exhausted (1): TimeLimitExceeded: time limit")
    assert not finished.is_set()


def test_a_soft_time_limit_raises_inside_the_task_which_can_clean_up(app: Taskq, make_worker):
    # Given a loop with a 0.2 s soft limit that catches it and returns a marker
    @app.task(name="features.tidy", soft_time_limit=0.2)
    def tidy() -> str:
        try:
            spin(time.monotonic() + RUNAWAY)
        except SoftTimeLimitExceeded:
            return "cleaned up"
        return "never interrupted"

    handle = tidy.delay()

    # When a worker runs it
    make_worker(app)

    # Then the task saw the exception and its return value is the result
    assert handle.get(timeout=WAIT_TIMEOUT) == "cleaned up"


def test_an_async_task_past_its_time_limit_is_cancelled(
    app: Taskq, broker: BaseBroker, make_worker
):
    # Given an async task awaiting far longer than its 0.3 s hard limit, not retried
    cancelled = threading.Event()

    @app.task(name="features.slow_async", time_limit=0.3, max_retries=0)
    async def slow_async() -> None:
        try:
            await asyncio.sleep(RUNAWAY)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    handle = slow_async.delay()

    # When a worker runs it
    make_worker(app)
    with pytest.raises(TaskError) as raised:
        handle.get(timeout=WAIT_TIMEOUT)

    # Then the coroutine is cancelled at its await and the task went to DEAD for its limit
    wait_for(cancelled)
    assert raised.value.exc_type == "TimeLimitExceeded"
    [letter] = broker.list_dead("default")
    assert "time limit (0.3s) exceeded; cancelled" in letter.reason


def test_an_async_task_runs_and_returns_its_value(app: Taskq, make_worker):
    # Given an async task that awaits before answering
    @app.task(name="features.add_async")
    async def add_async(a: int, b: int) -> int:
        await asyncio.sleep(0)
        return a + b

    handle = add_async.delay(2, 3)

    # When a worker runs it
    make_worker(app)

    # Then its return value is the result
    assert handle.get(timeout=WAIT_TIMEOUT) == 5


def test_several_async_tasks_run_at_once_on_one_event_loop(app: Taskq, make_worker):
    # Given four async tasks that can only finish once all four are inside (a barrier)
    barrier = asyncio.Barrier(4)

    @app.task(name="features.meet", max_retries=0)
    async def meet() -> list[int]:
        await asyncio.wait_for(barrier.wait(), timeout=WAIT_TIMEOUT)
        return [id(asyncio.get_running_loop()), threading.get_ident()]

    handles = [meet.delay() for _ in range(4)]

    # When a worker with four slots runs them
    make_worker(app, concurrency=4)
    results = [handle.get(timeout=WAIT_TIMEOUT) for handle in handles]

    # Then all four met at the barrier, on one loop, on one thread
    assert len({tuple(result) for result in results}) == 1
    wait_until(lambda: barrier.n_waiting == 0)


def test_a_stopped_worker_closes_the_event_loop_its_async_tasks_ran_on(app: Taskq, make_worker):
    # Given a worker that ran an async task (which started its event loop)
    loops: list[asyncio.AbstractEventLoop] = []

    @app.task(name="features.note_loop")
    async def note_loop() -> None:
        loops.append(asyncio.get_running_loop())

    handle = note_loop.delay()
    worker = make_worker(app)
    handle.get(timeout=WAIT_TIMEOUT)

    # When the worker stops
    worker.stop(timeout=5)

    # Then its loop is closed, not left to warn "unclosed event loop" when collected
    [loop] = loops
    wait_until(loop.is_closed)


def test_a_task_holding_the_gil_in_c_starves_the_heartbeat_which_warns(app: Taskq, make_worker):
    # Given a threads-pool worker heartbeating every 0.1 s
    starved = WarningSeen("thread was starved")
    logger = logging.getLogger("taskq.worker")
    logger.addHandler(starved)

    # And a task that holds the GIL in C calls of 0.5 s each until the heartbeat complains
    @app.task(name="features.gil_hog", max_retries=0)
    def gil_hog() -> int:
        holds = 0
        give_up = time.monotonic() + RUNAWAY
        while not starved.seen.is_set() and time.monotonic() < give_up:
            hold_gil(GIL_HOLD_US)
            holds += 1
        return holds

    try:
        # When the worker runs it
        make_worker(app, heartbeat_interval=0.1)
        gil_hog.delay().get(timeout=WAIT_TIMEOUT)
    finally:
        logger.removeHandler(starved)

    # Then the heartbeat warned that it was starved, pointing to the processes pool
    assert starved.seen.is_set()
    assert "due every 0.1s" in starved.messages[0]
    assert "--pool processes" in starved.messages[0]

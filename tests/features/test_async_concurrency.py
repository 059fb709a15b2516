"""``async def`` tasks beyond the pool's threads: ``async_concurrency`` coroutines at once.

Each test proves the overlap with a barrier every coroutine must reach, never with timing.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING

import pytest

from taskq_core import ConfigurationError, Taskq, Worker

from ..support.waiting import WAIT_TIMEOUT, wait_until

if TYPE_CHECKING:
    from collections.abc import Callable

#: Coroutines running at once in these tests, on a pool of two threads.
MANY = 40


def test_async_tasks_run_many_at_once_on_a_small_pool(
    app: Taskq, make_worker: Callable[..., Worker]
):
    # Given an async task that returns only once MANY of its calls wait at one barrier
    barrier: list[asyncio.Barrier] = []

    @app.task(name="features.async.meet", max_retries=0)
    async def meet(i: int) -> int:
        if not barrier:
            barrier.append(asyncio.Barrier(MANY))
        async with asyncio.timeout(WAIT_TIMEOUT):
            await barrier[0].wait()
        return i

    # And a worker of two threads that runs up to MANY coroutines
    make_worker(app, concurrency=2, async_concurrency=MANY)

    # When MANY calls are sent
    handles = [meet.delay(i) for i in range(MANY)]

    # Then all of them met at the barrier: each returned its value
    assert [h.get(timeout=WAIT_TIMEOUT) for h in handles] == list(range(MANY))


def test_graceful_stop_waits_for_every_running_coroutine(
    app: Taskq, make_worker: Callable[..., Worker]
):
    # Given MANY async calls running at once, each waiting for a gate on the worker's loop
    running: set[int] = set()
    gate: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
    lock = threading.Lock()

    @app.task(name="features.async.gated")
    async def gated(i: int) -> int:
        with lock:
            if not gate:
                gate.append((asyncio.get_running_loop(), asyncio.Event()))
            running.add(i)
        await gate[0][1].wait()
        return i

    worker = make_worker(app, concurrency=2, async_concurrency=MANY)
    handles = [gated.delay(i) for i in range(MANY)]
    wait_until(lambda: len(running) == MANY)

    # When the worker is stopped, and the gate opens while it drains
    stopped: list[bool] = []
    stopper = threading.Thread(target=lambda: stopped.append(worker.stop(timeout=WAIT_TIMEOUT)))
    stopper.start()
    wait_until(lambda: worker.lifecycle.phase.name == "DRAINING")
    loop, event = gate[0]
    loop.call_soon_threadsafe(event.set)
    stopper.join(WAIT_TIMEOUT)

    # Then the stop reports every task finished, each was acked with its value, none is held
    assert stopped == [True]
    assert [h.get(timeout=WAIT_TIMEOUT) for h in handles] == list(range(MANY))
    counts = app.broker.counts("default")
    assert (counts.ready, counts.processing) == (0, 0)
    assert worker.stats["acked"] == MANY


def test_graceful_stop_releases_the_coroutines_still_waiting_for_a_slot(
    app: Taskq, make_worker: Callable[..., Worker]
):
    # Given a worker that runs one coroutine at a time, running a gated call
    started: list[int] = []
    gate: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    @app.task(name="features.async.one_at_a_time")
    async def one(i: int) -> int:
        if not gate:
            gate.append((asyncio.get_running_loop(), asyncio.Event()))
        started.append(i)
        await gate[0][1].wait()
        return i

    for i in range(4):
        one.delay(i)
    worker = make_worker(app, concurrency=1, async_concurrency=1, prefetch=4)
    wait_until(lambda: started == [0])
    # And the other three reserved, waiting on the loop for the slot
    wait_until(lambda: app.broker.counts("default").ready == 0, what="all four reserved")

    # When the worker is stopped, and the running call's gate opens while it drains
    stopped: list[bool] = []
    stopper = threading.Thread(target=lambda: stopped.append(worker.stop(timeout=WAIT_TIMEOUT)))
    stopper.start()
    wait_until(lambda: app.broker.counts("default").ready == 3, what="three released")
    loop, event = gate[0]
    loop.call_soon_threadsafe(event.set)
    stopper.join(WAIT_TIMEOUT)

    # Then only the running call ran; the three waiting ones are READY again, none retried
    assert stopped == [True]
    assert started == [0]
    counts = app.broker.counts("default")
    assert (counts.ready, counts.processing) == (3, 0)
    assert worker.stats["acked"] == 1


def test_a_time_limit_cancels_one_coroutine_and_not_the_others(
    app: Taskq, make_worker: Callable[..., Worker]
):
    # Given an async task with a hard time limit that never ends, and a quick one
    @app.task(name="features.async.stuck", time_limit=0.2, max_retries=0)
    async def stuck() -> None:
        await asyncio.Event().wait()

    @app.task(name="features.async.quick")
    async def quick() -> str:
        return "done"

    make_worker(app, concurrency=1, async_concurrency=4)

    # When both run
    slow, fast = stuck.delay(), quick.delay()

    # Then the stuck one failed with the time limit, and the quick one succeeded
    assert fast.get(timeout=WAIT_TIMEOUT) == "done"
    result = slow.get(timeout=WAIT_TIMEOUT, propagate=False)
    assert "TimeLimitExceeded" in repr(result)


def test_a_coroutine_raising_cancelled_error_itself_fails_and_is_settled(
    app: Taskq, make_worker: Callable[..., Worker]
):
    # Given an async task that raises CancelledError of its own accord
    @app.task(name="features.async.gives_up", max_retries=0)
    async def gives_up() -> None:
        raise asyncio.CancelledError

    worker = make_worker(app, concurrency=1, async_concurrency=4)

    # When it runs
    handle = gives_up.delay()

    # Then it failed and was settled: DEAD, and the worker holds nothing
    assert "CancelledError" in repr(handle.get(timeout=WAIT_TIMEOUT, propagate=False))
    wait_until(lambda: not worker.held)
    assert app.broker.counts("default").dead == 1


@pytest.mark.parametrize("options", [{"async_concurrency": 0}, {"pool": "processes"}])
def test_async_concurrency_is_checked(app: Taskq, options: dict[str, object]):
    # Given a bad async_concurrency, or one for the processes pool, then the worker refuses it
    with pytest.raises(ConfigurationError, match="async_concurrency"):
        Worker(app, **{"async_concurrency": 4, **options})

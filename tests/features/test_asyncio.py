"""The asyncio producer end to end: ``await task.adelay()`` -> worker -> ``await result.aget()``.

On memory and on the real Redis server, with a real worker running the tasks in its threads.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING

import pytest

from taskq_core import ResultTimeout, TaskError, Taskq

from ..support.waiting import WAIT_TIMEOUT, wait_until

if TYPE_CHECKING:
    from collections.abc import Callable

    import redis

    from taskq_core import Worker


def test_adelay_then_aget_returns_the_value(app: Taskq, make_worker: Callable[..., Worker]):
    # Given a task and a running worker
    @app.task(name="features.aio.add")
    def add(x: int, y: int) -> int:
        return x + y

    make_worker(app)

    # When a coroutine sends it and awaits the result
    async def call() -> int:
        handle = await add.adelay(2, 3)
        return await handle.aget(timeout=WAIT_TIMEOUT)

    # Then it gets the value
    assert asyncio.run(call()) == 5


def test_aget_of_an_async_def_task_is_the_awaited_value(
    app: Taskq, make_worker: Callable[..., Worker]
):
    # Given an async def task and a running worker
    @app.task(name="features.aio.shout")
    async def shout(word: str) -> str:
        await asyncio.sleep(0)
        return word.upper()

    make_worker(app)

    # When a coroutine sends a batch and awaits every result at once
    async def call() -> list[str]:
        handles = await shout.adelay_many([("a",), ("b",), {"word": "c"}])
        return list(await asyncio.gather(*(h.aget(timeout=WAIT_TIMEOUT) for h in handles)))

    # Then each is the value the coroutine returned
    assert asyncio.run(call()) == ["A", "B", "C"]


def test_aget_of_a_failed_task_raises_or_returns_the_error(
    app: Taskq, make_worker: Callable[..., Worker]
):
    # Given a task that fails for good, and a running worker
    @app.task(name="features.aio.fail", max_retries=0)
    def fail() -> None:
        raise ValueError("bad input")

    make_worker(app)

    async def call() -> object:
        handle = await fail.adelay()
        with pytest.raises(TaskError, match="bad input"):
            await handle.aget(timeout=WAIT_TIMEOUT)
        return await handle.aget(timeout=WAIT_TIMEOUT, propagate=False)

    # When its result is awaited, then the remote error is raised, or returned when asked
    error = asyncio.run(call())
    assert isinstance(error, TaskError)
    assert "ValueError" in str(error)


def test_aget_times_out_and_aforget_deletes(app: Taskq, make_worker: Callable[..., Worker]):
    # Given a task that ran
    @app.task(name="features.aio.one")
    def one() -> int:
        return 1

    make_worker(app)

    async def call() -> None:
        handle = await one.adelay()
        assert await handle.aget(timeout=WAIT_TIMEOUT) == 1
        # When its result is forgotten
        await handle.aforget()
        # Then waiting for it times out
        with pytest.raises(ResultTimeout):
            await handle.aget(timeout=0.05)

    asyncio.run(call())


@pytest.mark.redis
def test_redis_connections_of_a_loop_close_with_aclose_or_with_the_loop(
    redis_url: str, prefix: str, redis_client: redis.Redis
):
    # Given an app built from a URL whose connections carry this test's client name
    separator = "&" if "?" in redis_url else "?"
    app = Taskq(f"{redis_url}{separator}client_name={prefix}-aio&prefix={prefix}")

    @app.task(name="features.aio.noop")
    def noop() -> None:
        return None

    def connections() -> int:
        return sum(1 for c in redis_client.client_list() if c.get("name") == f"{prefix}-aio")

    async def send_then(close: bool) -> int:
        await noop.adelay()
        open_meanwhile = connections()
        if close:
            await app.aclose()
        return open_meanwhile

    # When a loop sends and closes the app, then its connection was open and is closed after
    assert asyncio.run(send_then(close=True)) == 1
    wait_until(lambda: connections() == 0)  # the server drops a closed client soon after
    # When a loop sends and ends without closing, then asyncio.run's end closes it
    assert asyncio.run(send_then(close=False)) == 1
    wait_until(lambda: connections() == 0)


def test_the_loop_keeps_ticking_while_100_agets_wait(
    app: Taskq, make_worker: Callable[..., Worker]
):
    # Given a task held until the test lets it finish, and a running worker
    release = threading.Event()

    @app.task(name="features.aio.held")
    def held() -> str:
        release.wait(WAIT_TIMEOUT)
        return "released"

    make_worker(app)

    async def scenario() -> tuple[int, list[str]]:
        handle = await held.adelay()
        # When 100 coroutines await its result while a ticker ticks 20 times
        waits = [asyncio.create_task(handle.aget(timeout=WAIT_TIMEOUT)) for _ in range(100)]
        for _ in range(20):
            await asyncio.sleep(0.01)
        pending = sum(not wait.done() for wait in waits)
        # And the task is then let finish
        release.set()
        return pending, list(await asyncio.gather(*waits))

    try:
        pending, values = asyncio.run(scenario())
    finally:
        release.set()
    # Then every tick happened while all 100 waited, and each got the value
    assert pending == 100
    assert values == ["released"] * 100

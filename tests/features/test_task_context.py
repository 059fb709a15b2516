"""Task context and progress: ``bind=True``, ``current_task``, ``set_progress``, STARTED, RETRY.

Each runs on memory and on a real redis-server, through a real worker.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any

import pytest

from taskq_core import Retry, SignatureMismatch, chain, current_task

from ..support.waiting import WAIT_TIMEOUT, wait_for, wait_until

if TYPE_CHECKING:
    from collections.abc import Callable

    from taskq_core import Taskq, Worker


def test_bound_task_sees_its_request(app: Taskq, make_worker: Callable[..., Worker]) -> None:
    seen: list[dict[str, Any]] = []

    @app.task(bind=True, default_retry_delay=0.01, retry_jitter=False)
    def inspect_me(self: Any, x: int) -> int:
        request = self.request
        seen.append(
            {
                "id": request.id,
                "retries": request.retries,
                "delivery_count": request.delivery_count,
                "queue": request.queue,
                "parent_id": request.parent_id,
                "root_id": request.root_id,
                "eta": request.eta,
                "args": request.args,
            }
        )
        if request.retries == 0:
            self.retry(countdown=0.01)
        return x + 1

    make_worker(app)
    result = inspect_me.apply_async((1,), countdown=0.05)
    assert result.get(timeout=WAIT_TIMEOUT) == 2
    first, second = seen
    assert first["id"] == second["id"] == result.id
    assert (first["retries"], second["retries"]) == (0, 1)
    assert (first["delivery_count"], second["delivery_count"]) == (1, 2)
    assert first["queue"] == app.default_queue
    assert first["parent_id"] is None
    assert first["root_id"] == result.id
    assert first["eta"] is not None
    assert first["args"] == (1,)


def test_bind_skips_self_in_the_producer_check(app: Taskq) -> None:
    @app.task(bind=True)
    def bound(self: Any, x: int) -> int:
        return x

    bound.delay(1)
    with pytest.raises(SignatureMismatch):
        bound.delay(1, 2)


def test_chain_steps_know_their_parent_and_root(
    app: Taskq, make_worker: Callable[..., Worker]
) -> None:
    lineage: dict[str, tuple[str | None, str]] = {}

    @app.task
    def step(x: int) -> int:
        request = current_task.request
        lineage[request.id] = (request.parent_id, request.root_id)
        return x + 1

    make_worker(app)
    last = chain(step.s(0), step.s(), step.s()).delay()
    assert last.get(timeout=WAIT_TIMEOUT) == 3
    middle = last.parent
    first = middle.parent  # type: ignore[union-attr]
    assert lineage[first.id] == (None, first.id)  # type: ignore[union-attr]
    assert lineage[middle.id] == (first.id, first.id)  # type: ignore[union-attr]
    assert lineage[last.id] == (middle.id, first.id)  # type: ignore[union-attr]


def test_current_task_outside_and_inside_async(
    app: Taskq, make_worker: Callable[..., Worker]
) -> None:
    assert not current_task
    with pytest.raises(RuntimeError):
        _ = current_task.request

    @app.task
    async def coro() -> str:
        await asyncio.sleep(0)
        return str(current_task.request.id)

    make_worker(app)
    result = coro.delay()
    assert result.get(timeout=WAIT_TIMEOUT) == result.id


def test_progress_and_started_are_shown_until_the_result(
    app: Taskq, make_worker: Callable[..., Worker]
) -> None:
    running, halfway, finish = threading.Event(), threading.Event(), threading.Event()

    @app.task(track_started=True)
    def crunch(n: int) -> int:
        running.set()
        halfway.wait(WAIT_TIMEOUT)
        current_task.set_progress(n // 2, n, {"stage": "half"})
        finish.wait(WAIT_TIMEOUT)
        return n

    make_worker(app)
    result = crunch.delay(10)
    wait_for(running)
    wait_until(lambda: result.status == "STARTED")
    assert result.progress is None
    halfway.set()
    wait_until(lambda: result.progress is not None)
    assert result.progress == {"current": 5, "total": 10, "meta": {"stage": "half"}}
    assert result.status == "STARTED"
    finish.set()
    assert result.get(timeout=WAIT_TIMEOUT) == 10
    assert result.status == "SUCCESS"


def test_retry_status_while_waiting_for_the_next_attempt(
    app: Taskq, make_worker: Callable[..., Worker]
) -> None:
    @app.task
    def later() -> None:
        raise Retry(delay=3600)

    make_worker(app)
    result = later.delay()
    assert result.status in ("PENDING", "RETRY")
    wait_until(lambda: result.status == "RETRY")
    assert not result.ready()

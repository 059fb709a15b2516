"""Workflows end to end: chain, group, chord, links, nesting, through a real worker.

Each runs on memory and on a real redis-server (``broker_kind`` of the feature fixtures).
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest

from taskq_core import GroupResult, TaskError, chain, chord, group

from ..support.waiting import WAIT_TIMEOUT, wait_until

if TYPE_CHECKING:
    from collections.abc import Callable

    from taskq_core import BaseBroker, Taskq, Worker


@pytest.fixture
def tasks(app: Taskq) -> dict[str, Any]:
    """add, mul, tsum, fail and a recorder of callback calls."""
    calls: Counter[str] = Counter()
    seen: list[Any] = []
    lock = threading.Lock()

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    @app.task
    def mul(x: int, y: int) -> int:
        return x * y

    @app.task
    def tsum(values: list[int]) -> int:
        with lock:
            calls["tsum"] += 1
            seen.append(values)
        return sum(values)

    @app.task(max_retries=0)
    def fail(x: int) -> int:
        raise ValueError(f"bad {x}")

    @app.task
    def note(*args: Any) -> str:
        with lock:
            calls["note"] += 1
            seen.append(list(args))
        return "noted"

    return {
        "add": add,
        "mul": mul,
        "tsum": tsum,
        "fail": fail,
        "note": note,
        "calls": calls,
        "seen": seen,
    }


def test_chain_passes_each_result_on_and_walks_back(
    app: Taskq, tasks: dict[str, Any], make_worker: Callable[..., Worker]
) -> None:
    add, mul = tasks["add"], tasks["mul"]
    make_worker(app)
    result = chain(add.s(2, 2), mul.s(4), add.s(1)).delay()
    assert result.get(timeout=WAIT_TIMEOUT) == 17
    assert result.parent is not None
    assert result.parent.get(timeout=WAIT_TIMEOUT) == 16
    assert result.parent.parent is not None
    assert result.parent.parent.get(timeout=1) == 4
    piped = (add.s(1, 1) | mul.s(10) | add.si(5, 5)).delay()
    assert piped.get(timeout=WAIT_TIMEOUT) == 10
    assert piped.parent.get(timeout=WAIT_TIMEOUT) == 20  # type: ignore[union-attr]


def test_group_results_come_in_call_order(
    app: Taskq, tasks: dict[str, Any], make_worker: Callable[..., Worker]
) -> None:
    add = tasks["add"]
    make_worker(app, concurrency=4)
    handle = group(add.s(i, i) for i in range(50)).delay()
    assert isinstance(handle, GroupResult)
    assert handle.get(timeout=WAIT_TIMEOUT) == [2 * i for i in range(50)]
    assert handle.ready()
    assert handle.successful()
    assert not handle.failed()
    assert handle.completed_count() == 50


def test_group_results_can_be_awaited_in_call_order(
    app: Taskq, tasks: dict[str, Any], make_worker: Callable[..., Worker]
) -> None:
    # Given a group sent from synchronous code and a worker running it
    add = tasks["add"]
    make_worker(app, concurrency=4)
    handle = group(add.s(i, 1) for i in range(20)).delay()

    # When a coroutine awaits the group, then it gets every value, in call order
    async def wait() -> list[Any]:
        values = await handle.aget(timeout=WAIT_TIMEOUT)
        await app.aclose()
        return values

    assert asyncio.run(wait()) == [i + 1 for i in range(20)]


def test_chord_runs_its_callback_once_with_results_in_order(
    app: Taskq, tasks: dict[str, Any], make_worker: Callable[..., Worker]
) -> None:
    add, tsum = tasks["add"], tasks["tsum"]
    make_worker(app, concurrency=4)
    result = chord((add.s(i, 1) for i in range(30)), tsum.s()).delay()
    assert result.get(timeout=WAIT_TIMEOUT) == sum(i + 1 for i in range(30))
    assert tasks["seen"] == [[i + 1 for i in range(30)]]
    assert tasks["calls"]["tsum"] == 1
    assert isinstance(result.parent, GroupResult)
    assert len(result.parent) == 30


def test_chain_of_group_and_task_is_a_chord(
    app: Taskq, tasks: dict[str, Any], make_worker: Callable[..., Worker]
) -> None:
    add, mul, tsum = tasks["add"], tasks["mul"], tasks["tsum"]
    make_worker(app, concurrency=4)
    result = chain(add.s(1, 1), group(mul.s(i) for i in range(5)), tsum.s(), mul.s(2)).delay()
    assert result.get(timeout=WAIT_TIMEOUT) == 2 * sum(2 * i for i in range(5))


def test_nested_forms(
    app: Taskq, tasks: dict[str, Any], make_worker: Callable[..., Worker]
) -> None:
    add, mul, tsum = tasks["add"], tasks["mul"], tasks["tsum"]
    make_worker(app, concurrency=4)
    chains_in_group = group(chain(add.s(i, i), mul.s(3)) for i in range(4)).delay()
    assert chains_in_group.get(timeout=WAIT_TIMEOUT) == [6 * i for i in range(4)]
    chains_in_chord = chord([chain(add.s(i, 0), mul.s(2)) for i in range(4)], tsum.s()).delay()
    assert chains_in_chord.get(timeout=WAIT_TIMEOUT) == 2 * sum(range(4))
    chain_callback = chord([add.s(i, i) for i in range(3)], tsum.s() | mul.s(10)).delay()
    assert chain_callback.get(timeout=WAIT_TIMEOUT) == 10 * sum(2 * i for i in range(3))


def test_link_and_link_error(
    app: Taskq, tasks: dict[str, Any], make_worker: Callable[..., Worker]
) -> None:
    add, fail, note = tasks["add"], tasks["fail"], tasks["note"]
    make_worker(app)
    linked = add.apply_async((1, 2), link=note.s("after"))
    assert linked.get(timeout=WAIT_TIMEOUT) == 3
    wait_until(lambda: tasks["calls"]["note"] == 1)
    assert tasks["seen"][0] == [3, "after"]
    failed = fail.apply_async((7,), link_error=note.s("oops"))
    with pytest.raises(TaskError):
        failed.get(timeout=WAIT_TIMEOUT)
    wait_until(lambda: tasks["calls"]["note"] == 2)
    assert tasks["seen"][1] == [failed.id, "oops"]


def test_dead_member_fails_the_chord_and_requeue_completes_it(
    app: Taskq, broker: BaseBroker, tasks: dict[str, Any], make_worker: Callable[..., Worker]
) -> None:
    add, tsum, note = tasks["add"], tasks["tsum"], tasks["note"]
    flaky_ok = threading.Event()

    @app.task(max_retries=0)
    def flaky(x: int) -> int:
        if not flaky_ok.is_set():
            raise RuntimeError("not yet")
        return x

    make_worker(app, concurrency=2)
    members = [add.s(1, 1), flaky.s(5), add.s(2, 2)]
    result = chord(members, tsum.s()).set(link_error=note.s("chord failed")).delay()
    with pytest.raises(TaskError) as failure:
        result.get(timeout=WAIT_TIMEOUT)
    bad = result.parent[1]  # type: ignore[index]
    assert bad.id in str(failure.value)
    wait_until(lambda: tasks["calls"]["note"] == 1)
    assert tasks["seen"] == [[bad.id, "chord failed"]]
    assert tasks["calls"]["tsum"] == 0
    flaky_ok.set()
    assert broker.requeue_dead(app.route(flaky), [bad.id]) == 1
    wait_until(lambda: result.status == "SUCCESS")
    assert result.get(timeout=1) == 2 + 5 + 4
    assert tasks["calls"]["tsum"] == 1


def test_step_returning_non_json_fails_the_chain(
    app: Taskq, tasks: dict[str, Any], make_worker: Callable[..., Worker]
) -> None:
    add = tasks["add"]

    @app.task
    def as_set(x: int) -> set[int]:
        return {x}

    make_worker(app)
    result = chain(add.s(1, 1), as_set.s(), add.s(1)).delay()
    with pytest.raises(TaskError) as failure:
        result.get(timeout=WAIT_TIMEOUT)
    assert "not JSON" in str(failure.value)


def test_partial_arguments_go_first_and_link_takes_a_countdown(
    app: Taskq, tasks: dict[str, Any], make_worker: Callable[..., Worker]
) -> None:
    note = tasks["note"]

    @app.task
    def sub(x: int, y: int) -> int:
        return x - y

    make_worker(app)
    assert sub.s(2).delay(8).get(timeout=WAIT_TIMEOUT) == 6  # sub(8, 2), as Celery's partials
    linked = sub.apply_async((5, 1), countdown=0.01, link=note.s("late"))
    assert linked.get(timeout=WAIT_TIMEOUT) == 4
    wait_until(lambda: tasks["calls"]["note"] == 1)
    assert tasks["seen"] == [[4, "late"]]

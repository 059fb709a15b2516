"""Results end to end: ``delay()`` -> worker -> ``AsyncResult.get()``, on memory and on Redis.

A waiter is proven to wait in the broker (Redis: the server lists its client as blocked in
BLMOVE; memory: its thread sits in the result condition) before the worker is even started, so
"get() before the task ran" is what is tested, not a race that usually goes that way.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import pytest

from taskq_core import ResultTimeout, TaskError

from ..support.waiting import WAIT_TIMEOUT, wait_until

if TYPE_CHECKING:
    from taskq_core import AsyncResult, BaseBroker, Taskq

    from ..support.recording import TaskEvents
    from .conftest import Backend


class Waiter:
    """``handle.get()`` on its own thread; :meth:`outcome` returns what it returned or raised."""

    def __init__(self, handle: AsyncResult, *, timeout: float = WAIT_TIMEOUT) -> None:
        self._outcome: tuple[Any] | None = None
        self._error: BaseException | None = None

        def run() -> None:
            try:
                self._outcome = (handle.get(timeout=timeout),)
            except BaseException as exc:  # handed to the test thread by outcome()
                self._error = exc

        self.thread = threading.Thread(target=run, name="result-waiter", daemon=True)
        self.thread.start()

    def outcome(self) -> Any:
        self.thread.join(WAIT_TIMEOUT)
        assert not self.thread.is_alive(), "the waiter was not woken by the result"
        if self._error is not None:
            raise self._error
        assert self._outcome is not None
        return self._outcome[0]


def start_blocked_waiters(backend: Backend, handle: AsyncResult, count: int) -> list[Waiter]:
    """Start ``count`` waiters on ``handle`` and return once all are blocked in the broker."""
    waiters = [Waiter(handle) for _ in range(count)]
    threads = [w.thread for w in waiters]
    wait_until(lambda: backend.blocked_result_waiters(threads) == count)
    return waiters


def test_get_called_before_the_task_ran_returns_its_value(
    app: Taskq, backend: Backend, make_worker
):
    # Given a sent task, no worker yet, and a waiter blocked in get()
    @app.task(name="features.double")
    def double(n: int) -> int:
        return n * 2

    handle = double.delay(21)
    [waiter] = start_blocked_waiters(backend, handle, 1)

    # When a worker starts and runs the task
    make_worker(app)

    # Then the blocked waiter gets the value
    assert waiter.outcome() == 42


def test_get_called_after_the_task_finished_returns_its_value_at_once(
    app: Taskq, make_worker, events: TaskEvents
):
    # Given a task that already ran and was acked
    @app.task(name="features.greet")
    def greet(name: str) -> str:
        return f"hello {name}"

    handle = greet.delay("ada")
    make_worker(app)
    wait_until(lambda: handle.id in events.succeeded)

    # When get() is called without any wait allowed
    value = handle.get(timeout=0)

    # Then the stored value is there
    assert value == "hello ada"


def test_several_concurrent_waiters_all_get_the_value(app: Taskq, backend: Backend, make_worker):
    # Given five waiters blocked in get() on one task that has not run
    @app.task(name="features.payload")
    def payload() -> dict[str, list[int]]:
        return {"ok": [1, 2, 3]}

    handle = payload.delay()
    waiters = start_blocked_waiters(backend, handle, 5)

    # When a worker runs the task
    make_worker(app)

    # Then every waiter gets the same value
    assert [w.outcome() for w in waiters] == [{"ok": [1, 2, 3]}] * 5


def test_a_failed_task_raises_task_error_with_the_remote_type_message_and_traceback(
    app: Taskq, make_worker
):
    # Given a task that raises and is not retried
    @app.task(name="features.broken", max_retries=0)
    def broken(n: int) -> None:
        raise ValueError(f"bad input {n}")

    handle = broken.delay(7)

    # When a worker runs it and the caller waits for the result
    make_worker(app)
    with pytest.raises(TaskError) as raised:
        handle.get(timeout=WAIT_TIMEOUT)

    # Then the error names the remote type and message and carries the remote traceback
    error = raised.value
    assert error.exc_type == "ValueError"
    assert error.message == "bad input 7"
    assert error.traceback is not None
    assert "Traceback (most recent call last)" in error.traceback
    assert "in broken" in error.traceback
    assert handle.status == "FAILURE"
    assert handle.failed()


def test_get_without_propagate_returns_the_error_instead_of_raising(app: Taskq, make_worker):
    # Given a task that always fails, not retried
    @app.task(name="features.refuses", max_retries=0)
    def refuses() -> None:
        raise PermissionError("no")

    handle = refuses.delay()
    make_worker(app)

    # When the result is fetched with propagate=False
    error = handle.get(timeout=WAIT_TIMEOUT, propagate=False)

    # Then the TaskError is returned
    assert isinstance(error, TaskError)
    assert (error.exc_type, error.message) == ("PermissionError", "no")


def test_a_task_with_ignore_result_stores_nothing_and_get_times_out(
    app: Taskq, make_worker, events: TaskEvents
):
    # Given a task that ignores its result, and has run
    @app.task(name="features.fire_and_forget", ignore_result=True)
    def fire_and_forget() -> str:
        return "unseen"

    handle = fire_and_forget.delay()
    make_worker(app)
    wait_until(lambda: handle.id in events.succeeded)

    # When the caller waits a little for its result
    # Then there is none: get() times out and the status stays PENDING
    with pytest.raises(ResultTimeout):
        handle.get(timeout=0.2)
    assert handle.status == "PENDING"


def test_a_non_json_return_value_is_a_failure_result_but_the_message_is_acked(
    app: Taskq, broker: BaseBroker, make_worker, events: TaskEvents
):
    # Given a task that returns a set, which JSON cannot carry
    @app.task(name="features.returns_set")
    def returns_set() -> set[int]:
        return {1, 2}

    handle = returns_set.delay()

    # When a worker runs it
    make_worker(app)
    with pytest.raises(TaskError) as raised:
        handle.get(timeout=WAIT_TIMEOUT)

    # Then the result is a FAILURE naming the type, while the message was acked (ran once, gone)
    assert raised.value.exc_type == "SerializationError"
    assert "returned set, which is not JSON" in raised.value.message
    wait_until(lambda: handle.id in events.succeeded)
    assert events.started[handle.id] == 1
    counts = broker.counts("default")
    assert (counts.ready, counts.scheduled, counts.processing, counts.dead) == (0, 0, 0, 0)


def test_a_handle_rebuilt_from_the_id_reads_the_result(app: Taskq, make_worker):
    # Given a task that ran, known to the caller only by its id
    @app.task(name="features.square")
    def square(n: int) -> int:
        return n * n

    message_id = square.delay(9).id
    make_worker(app)

    # When a handle is rebuilt from the id
    handle = app.AsyncResult(message_id)

    # Then it waits for and reads that task's result
    assert handle.get(timeout=WAIT_TIMEOUT) == 81
    assert handle.status == "SUCCESS"
    assert handle.ready()
    assert handle.successful()


def test_forget_deletes_the_result(app: Taskq, make_worker):
    # Given a task whose result is stored
    @app.task(name="features.forgettable")
    def forgettable() -> int:
        return 1

    handle = forgettable.delay()
    make_worker(app)
    assert handle.get(timeout=WAIT_TIMEOUT) == 1

    # When the result is forgotten
    handle.forget()

    # Then the handle is PENDING again and get() finds nothing
    assert handle.status == "PENDING"
    with pytest.raises(ResultTimeout):
        handle.get(timeout=0)

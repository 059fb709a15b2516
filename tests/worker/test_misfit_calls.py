"""A message whose arguments do not fit its task's signature goes to DEAD at once, with why.

Such a message gets past ``delay()`` only when another producer (an older deploy, another
language, a hand-written payload) wrote it; retrying it cannot help, so it is not retried.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from taskq_core import Message
from taskq_core.worker.failures import RemoteFailure
from taskq_core.worker.runner import DeliveryRunner

if TYPE_CHECKING:
    from taskq_core import Delivery, Task, Taskq
    from taskq_memory import MemoryBroker

WORKER = "worker-a"


@pytest.fixture
def add(app: Taskq) -> Task[..., int]:
    @app.task(name="tests.add", max_retries=3)
    def add(x: int, y: int) -> int:
        return x + y

    return add


def reserve_one(broker: MemoryBroker) -> Delivery:
    [delivery] = broker.reserve(["default"], worker_id=WORKER, lease=30.0)
    return delivery


@pytest.mark.parametrize(
    ("args", "kwargs", "problem"),
    [
        pytest.param((1,), {}, "missing a required argument: 'y'", id="too-few"),
        pytest.param((1, 2, 3), {}, "too many positional arguments", id="too-many"),
        pytest.param((1, 2), {"z": 3}, "got an unexpected keyword argument 'z'", id="unknown-kw"),
    ],
)
def test_a_call_that_does_not_fit_goes_to_dead_at_once_with_the_reason(
    app: Taskq,
    broker: MemoryBroker,
    add: Task[..., int],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    problem: str,
) -> None:
    # Given a message written behind delay()'s back, whose arguments do not fit add(x, y)
    broker.send(Message.build(task="tests.add", args=args, kwargs=kwargs))

    # When it runs once
    outcome = DeliveryRunner(app, broker).run(reserve_one(broker))

    # Then it is dead without any retry, and the reason names the signature and the problem
    assert outcome == "dead"
    [letter] = broker.list_dead("default")
    assert letter.retries == 0
    first_line = letter.reason.partition("\n")[0]
    assert first_line == f"arguments do not fit add(x, y): {problem}"
    assert broker.get_result(letter.id) is not None


def test_a_type_error_raised_inside_a_task_is_retried_as_before(
    app: Taskq, broker: MemoryBroker
) -> None:
    # Given a task whose call fits but whose body raises TypeError
    @app.task(name="tests.typo", max_retries=3)
    def typo(x: int) -> int:
        return x + "1"  # type: ignore[operator]

    typo.delay(1)

    # When it runs, then it is retried like any other exception
    assert DeliveryRunner(app, broker).run(reserve_one(broker)) == "retried"


class RemoteTypeError:
    """An invoker standing for the processes pool: the child reports a TypeError."""

    def __call__(self, delivery: Delivery, task: Task[..., Any]) -> Any:
        raise RemoteFailure("TypeError", "add() missing 1 required argument", "tb", True)

    def close(self) -> None:
        """Nothing to release."""


def test_a_misfit_reported_by_a_pool_child_goes_to_dead_at_once(
    app: Taskq, broker: MemoryBroker, add: Task[..., int]
) -> None:
    # Given a misfit message run by a child process, which reports the TypeError
    broker.send(Message.build(task="tests.add", args=(1,)))
    runner = DeliveryRunner(app, broker, invoker=RemoteTypeError())

    # When it runs, then it goes to DEAD at once naming the problem
    assert runner.run(reserve_one(broker)) == "dead"
    [letter] = broker.list_dead("default")
    assert letter.reason.startswith("arguments do not fit add(x, y): missing")

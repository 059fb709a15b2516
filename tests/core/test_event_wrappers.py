"""Event hooks and wrappers: a ``wrapper=True`` implementation wraps the event's plain ones."""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

import pytest

from taskq_core import Message, Taskq, hookimpl

if TYPE_CHECKING:
    from taskq_core import Delivery, Task


@pytest.fixture
def add(app: Taskq) -> Task:
    @app.task(name="tests.add")
    def add(x: int, y: int) -> int:
        return x + y

    return add


class Wrapper:
    """Wraps ``taskq_after_send`` and ``taskq_task_started``, noting when it enters and leaves."""

    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    @hookimpl(wrapper=True)
    def taskq_after_send(self, message: Message, eta: float | None) -> Generator[None, None, None]:
        self.seen.append("enter")
        yield
        self.seen.append("leave")

    @hookimpl(wrapper=True)
    def taskq_task_started(self, delivery: Delivery) -> Generator[None, None, None]:
        self.seen.append(f"enter {delivery.message.task}")
        yield
        self.seen.append("leave")


class Plain:
    def __init__(self, seen: list[str], name: str, fail: bool = False) -> None:
        self.seen, self.name, self.fail = seen, name, fail

    @hookimpl
    def taskq_after_send(self, message: Message, eta: float | None) -> None:
        self.seen.append(self.name)
        if self.fail:
            raise RuntimeError(f"{self.name} is broken")


def test_a_wrapper_of_an_event_hook_wraps_its_plain_implementations(
    use_plugin, app: Taskq, add: Task
):
    # Given a wrapper of taskq_after_send and a plain implementation
    seen: list[str] = []
    use_plugin(Plain(seen, "plain"))
    use_plugin(Wrapper(seen))

    # When a task is sent
    add.delay(1, 2)

    # Then the wrapper ran around the plain implementation
    assert seen == ["enter", "plain", "leave"]


def test_a_wrapper_alone_hears_a_worker_event(use_plugin, app: Taskq, add: Task):
    # Given only a wrapper of taskq_task_started
    seen: list[str] = []
    use_plugin(Wrapper(seen))
    add.delay(1, 2)
    seen.clear()

    # When the worker's runner runs the task
    app.run_until_idle()

    # Then the wrapper heard the start
    assert seen == ["enter tests.add", "leave"]


def test_inside_a_wrapper_a_failing_plugin_does_not_silence_the_others(
    use_plugin, app: Taskq, add: Task, caplog: pytest.LogCaptureFixture
):
    # Given a wrapper, a plain implementation that raises and one that works
    seen: list[str] = []
    use_plugin(Plain(seen, "works"))
    use_plugin(Plain(seen, "broken", fail=True))
    use_plugin(Wrapper(seen))

    # When a task is sent
    add.delay(1, 2)

    # Then both plain ones heard it, the wrapper left normally, and the failure was logged
    assert seen[0] == "enter"
    assert seen[-1] == "leave"
    assert sorted(seen[1:-1]) == ["broken", "works"]
    assert any("failed in taskq_after_send" in r.getMessage() for r in caplog.records)


def test_a_wrapper_that_fails_before_its_yield_is_logged_and_the_others_still_hear(
    use_plugin, app: Taskq, add: Task, caplog: pytest.LogCaptureFixture
):
    # Given a wrapper that raises before it yields, and a plain implementation
    class Broken:
        @hookimpl(wrapper=True)
        def taskq_after_send(
            self, message: Message, eta: float | None
        ) -> Generator[None, None, None]:
            raise RuntimeError("wrapper broken")
            yield  # pragma: no cover

    seen: list[str] = []
    use_plugin(Plain(seen, "plain"))
    use_plugin(Broken())

    # When a task is sent, then the send succeeds
    assert add.delay(1, 2).id

    # And the plain implementation heard it, and the wrapper's failure was logged
    assert seen == ["plain"]
    logged = [r.getMessage() for r in caplog.records]
    assert any("wrapper plugin failed in taskq_after_send" in line for line in logged)

"""Plugins and backends: URL schemes, send hooks and the execute wrapper."""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import pytest

import taskq_core.backends
from taskq_core import Message, Reject, Taskq, UnknownBackend, connect, hookimpl, register_backend
from taskq_core.app import BULK_CHUNK
from taskq_core.plugins import plugin_manager
from taskq_core.worker.runner import DeliveryRunner
from taskq_memory import MemoryBroker

if TYPE_CHECKING:
    from taskq_core import Delivery, Task

WORKER = "test-worker"


@pytest.fixture
def add(app: Taskq) -> Task:
    @app.task(name="tests.add")
    def add(x: int, y: int) -> int:
        return x + y

    return add


def test_unknown_scheme_names_the_installed_ones_on_one_line():
    # Given no backend serves "nope://"
    # When a broker is opened for it
    with pytest.raises(UnknownBackend) as caught:
        connect("nope://x")

    # Then one line says so and lists the installed schemes, taskq's own among them
    text = str(caught.value)
    assert "\n" not in text
    assert "'nope'" in text
    for scheme in ("memory", "redis", "rediss", "unix"):
        assert scheme in text


def test_memory_scheme_builds_a_memory_broker():
    # Given taskq-memory is installed, when memory:// is opened, then it is a MemoryBroker
    assert isinstance(connect("memory://"), MemoryBroker)


@pytest.mark.parametrize("url", ["127.0.0.1:6379", "just-a-name", ""])
def test_url_without_scheme_is_a_configuration_error(url: str):
    # Given a URL with no scheme, when opened, then the error suggests the usual ones
    with pytest.raises(taskq_core.ConfigurationError, match="no scheme"):
        connect(url)


def test_register_backend_serves_a_scheme_in_process(monkeypatch: pytest.MonkeyPatch):
    # Given a scheme registered in-process (restored after the test)
    monkeypatch.setattr(taskq_core.backends, "_extra", dict(taskq_core.backends._extra))
    monkeypatch.setattr(taskq_core.backends, "_registry", dict(taskq_core.backends._registry))
    seen: list[tuple[str, dict[str, object]]] = []

    def factory(url: str, **options: object) -> MemoryBroker:
        seen.append((url, options))
        return MemoryBroker()

    register_backend("TestMem", factory)

    # When a URL with that scheme (any case) is opened
    broker = connect("testmem://somewhere", answer=42)

    # Then the factory built it, with the URL and options
    assert isinstance(broker, MemoryBroker)
    assert seen == [("testmem://somewhere", {"answer": 42})]


def test_before_send_reject_writes_nothing(use_plugin, app: Taskq, add: Task):
    # Given a plugin that refuses every message
    class Gate:
        @hookimpl
        def taskq_before_send(self, message: Message) -> None:
            raise Reject(f"no {message.task} today")

    use_plugin(Gate())

    # When a task is sent, then the refusal reaches the caller and nothing is written
    with pytest.raises(Reject, match=r"no tests\.add today"):
        add.delay(1, 2)
    assert app.broker.queues() == []


def test_before_send_reject_in_a_batch_writes_nothing(use_plugin, app: Taskq, add: Task):
    # Given a plugin that refuses one message of a batch
    class Gate:
        @hookimpl
        def taskq_before_send(self, message: Message) -> None:
            if message.args == (3, 3):
                raise Reject("not that one")

    use_plugin(Gate())

    # When the batch is sent, then not even the earlier messages were written
    with pytest.raises(Reject):
        add.delay_many([(1, 1), (2, 2), (3, 3)])
    assert app.broker.queues() == []


def test_before_send_reject_beyond_the_first_bulk_chunk_writes_nothing(
    use_plugin, app: Taskq, add: Task
):
    # Given a plugin that refuses the last message of a batch one longer than a bulk chunk
    last = (BULK_CHUNK, BULK_CHUNK)

    class Gate:
        @hookimpl
        def taskq_before_send(self, message: Message) -> None:
            if message.args == last:
                raise Reject("not that one")

    use_plugin(Gate())

    # When the batch is sent, then the refusal reaches the caller and no chunk was written
    with pytest.raises(Reject):
        add.delay_many([(n, n) for n in range(BULK_CHUNK + 1)])
    assert app.broker.queues() == []


def test_failing_after_send_hook_is_swallowed(use_plugin, app: Taskq, add: Task):
    # Given a plugin whose after-send hook raises
    class Broken:
        @hookimpl
        def taskq_after_send(self, message: Message, eta: float | None) -> None:
            raise RuntimeError("metrics backend down")

    use_plugin(Broken())

    # When a task is sent
    result = add.delay(1, 2)

    # Then the caller sees no error and the message is in the broker
    assert result.id
    assert app.broker.counts("default").ready == 1


def test_after_send_hook_sees_the_message_and_its_eta(use_plugin, app: Taskq, add: Task, clock):
    # Given a plugin recording sends
    sent: list[tuple[str, float | None]] = []

    class Recorder:
        @hookimpl
        def taskq_after_send(self, message: Message, eta: float | None) -> None:
            sent.append((message.id, eta))

    use_plugin(Recorder())

    # When one task is sent now and one with a countdown
    now_id = add.delay(1, 2).id
    later_id = add.apply_async((3, 4), countdown=5).id

    # Then the hook saw both, with the ETA of the scheduled one
    assert sent == [(now_id, None), (later_id, clock.now() + 5)]


def test_execute_wrapper_wraps_the_task(use_plugin, app: Taskq, add: Task):
    # Given a wrapper plugin that records around the call and changes the result
    calls: list[str] = []

    class Wrapper:
        @hookimpl(wrapper=True)
        def taskq_task_execute(
            self, delivery: Delivery, task: Task
        ) -> Generator[None, Any, object]:
            calls.append(f"before {task.name}{delivery.message.args}")
            result = yield
            calls.append(f"after {result}")
            return result * 10

    results: list[object] = []

    class Results:
        @hookimpl
        def taskq_task_succeeded(self, delivery: Delivery, result: object, runtime: float) -> None:
            results.append(result)

    use_plugin(Wrapper())
    use_plugin(Results())
    add.delay(2, 3)
    [delivery] = app.broker.reserve(["default"], worker_id=WORKER, lease=30.0)

    # When a worker runs the delivery
    outcome = DeliveryRunner(app, app.broker).run(delivery)

    # Then the wrapper ran around the function and its result is the task's result
    assert outcome == "acked"
    assert calls == ["before tests.add(2, 3)", "after 5"]
    assert results == [50]


def test_execute_wrapper_can_turn_a_call_into_a_failure(use_plugin, app: Taskq):
    # Given a task without retries, and a wrapper that raises before the function runs
    @app.task(name="tests.guarded", max_retries=0)
    def guarded() -> None: ...

    class Deny:
        @hookimpl(wrapper=True)
        def taskq_task_execute(
            self, delivery: Delivery, task: Task
        ) -> Generator[None, Any, object]:
            raise PermissionError("tenant suspended")
            yield  # pragma: no cover - makes this a generator

    use_plugin(Deny())
    guarded.delay()
    [delivery] = app.broker.reserve(["default"], worker_id=WORKER, lease=30.0)

    # When a worker runs the delivery, then it is the task's failure: DEAD with that reason
    assert DeliveryRunner(app, app.broker).run(delivery) == "dead"
    [letter] = app.broker.list_dead("default")
    assert "PermissionError: tenant suspended" in letter.reason


class MetricsExporter:
    """A plugin whose after-send hook always fails."""

    @hookimpl
    def taskq_after_send(self, message: Message, eta: float | None) -> None:
        raise RuntimeError("metrics backend down")


def test_a_failing_plugin_is_named_by_its_class_in_the_log(
    use_plugin, add: Task, caplog: pytest.LogCaptureFixture
):
    # Given a plugin registered without a name, whose hook fails
    use_plugin(MetricsExporter())

    # When its hook runs
    add.delay(1, 2)

    # Then the log line names the plugin by module and class, not by a number
    [line] = [r.getMessage() for r in caplog.records if r.name == "taskq.plugins"]
    assert line.startswith(
        f"plugin {__name__}.MetricsExporter failed in taskq_after_send; continuing"
    )


def test_plugins_of_one_class_get_distinct_readable_names(use_plugin):
    # Given two unnamed plugins of one class
    first, second = MetricsExporter(), MetricsExporter()
    use_plugin(first)
    use_plugin(second)

    # Then each is named after the class, the second with a counter
    manager = plugin_manager()
    assert manager.get_name(first) == f"{__name__}.MetricsExporter"
    assert manager.get_name(second) == f"{__name__}.MetricsExporter#2"

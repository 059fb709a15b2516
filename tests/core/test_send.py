"""delay, apply_async and delay_many: what a producer writes to the broker."""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from taskq_core import ConfigurationError, SerializationError

if TYPE_CHECKING:
    from taskq_core import FakeClock, Task, Taskq
    from taskq_memory import MemoryBroker

WORKER = "test-worker"


@pytest.fixture
def add(app: Taskq) -> Task:
    @app.task(name="tests.add", priority=3, max_deliveries=4)
    def add(x: int, y: int) -> int:
        return x + y

    return add


def reserve_all(broker: MemoryBroker, queue: str = "default") -> list:
    return broker.reserve([queue], worker_id=WORKER, lease=30.0, limit=1000)


def test_delay_writes_one_ready_message_with_the_call(add: Task, broker: MemoryBroker):
    # Given a registered task
    # When it is delayed
    result = add.delay(2, y=3)

    # Then one message is READY in its queue, carrying the call and the task's defaults
    [delivery] = reserve_all(broker)
    message = delivery.message
    assert message.id == result.id
    assert (message.task, message.args, message.kwargs) == ("tests.add", (2,), {"y": 3})
    assert (message.queue, message.priority, message.max_deliveries) == ("default", 3, 4)


def test_apply_async_options_override_the_tasks_defaults(add: Task, broker: MemoryBroker):
    # Given a registered task
    # When it is sent with per-call options
    result = add.apply_async(
        (1, 2), queue="other", priority=9, max_retries=1, headers={"trace": "t-1"}
    )

    # Then the message carries them
    [delivery] = reserve_all(broker, "other")
    message = delivery.message
    assert result.queue == "other"
    assert (message.priority, message.max_retries, message.headers) == (9, 1, {"trace": "t-1"})


def test_created_at_comes_from_the_apps_clock(add: Task, broker: MemoryBroker, clock: FakeClock):
    # Given the broker's fake clock at some moment
    # When a task is sent, then the message is stamped with that moment
    add.delay(1, 2)
    [delivery] = reserve_all(broker)
    assert delivery.message.created_at == clock.now()


def test_same_task_id_twice_writes_one_message(add: Task, broker: MemoryBroker):
    # Given a call sent with an explicit id
    first = add.apply_async((1, 2), task_id="order-42")

    # When the same id is sent again (a retried producer)
    second = add.apply_async((1, 2), task_id="order-42")

    # Then both handles carry that id and only one message exists
    assert first.id == second.id == "order-42"
    assert broker.counts("default").ready == 1


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(dt.datetime(2024, 1, 1, tzinfo=dt.UTC), id="datetime"),
        pytest.param({1, 2}, id="set"),
        pytest.param(object(), id="object"),
        pytest.param({1: "one"}, id="dict-with-int-keys"),
    ],
)
def test_non_json_argument_fails_at_delay_and_writes_nothing(
    add: Task, broker: MemoryBroker, bad: object
):
    # Given an argument JSON cannot carry
    # When the task is delayed with it
    with pytest.raises(SerializationError, match=r"'tests\.add'.*args\[1\]: \w+"):
        add.delay(1, bad)  # type: ignore[arg-type]

    # Then nothing was written
    assert broker.counts("default").model_dump(exclude={"queue"}) == {
        "ready": 0,
        "scheduled": 0,
        "processing": 0,
        "dead": 0,
        "expired": 0,
        "revoked": 0,
    }
    assert broker.queues() == []


def test_non_json_keyword_fails_at_delay_naming_the_keyword(add: Task, broker: MemoryBroker):
    # Given a keyword argument that is not JSON
    # When the task is delayed with it, then the keyword is named and nothing is written
    with pytest.raises(SerializationError, match=r"kwargs\['y'\]: set is not JSON"):
        add.delay(1, y={1, 2})  # type: ignore[arg-type]
    assert broker.counts("default").ready == 0


def test_delay_many_sends_every_call(add: Task, broker: MemoryBroker):
    # Given positional and keyword calls
    # When they are sent in bulk
    results = add.delay_many([(1, 2), {"x": 3, "y": 4}, [5, 6]])

    # Then each is a READY message, in order, with its arguments
    deliveries = reserve_all(broker)
    assert [d.id for d in deliveries] == [r.id for r in results]
    assert [(d.message.args, d.message.kwargs) for d in deliveries] == [
        ((1, 2), {}),
        ((), {"x": 3, "y": 4}),
        ((5, 6), {}),
    ]


def test_delay_many_with_one_bad_item_writes_nothing(add: Task, broker: MemoryBroker):
    # Given a batch whose last item is not JSON
    calls = [(1, 2), (3, 4), (5, {6})]

    # When it is sent in bulk
    with pytest.raises(SerializationError):
        add.delay_many(calls)

    # Then not even the good items were written
    assert broker.counts("default").ready == 0


def test_countdown_schedules_the_message_until_its_eta(
    add: Task, broker: MemoryBroker, clock: FakeClock
):
    # Given a call sent with a 10 s countdown
    add.apply_async((1, 2), countdown=10)

    # Then it is SCHEDULED, and not reservable just before its ETA
    assert broker.counts("default").scheduled == 1
    clock.advance(9.9)
    assert reserve_all(broker) == []

    # When its ETA arrives, then it is reservable
    clock.advance(0.1)
    assert len(reserve_all(broker)) == 1


def test_countdown_zero_is_ready_at_once(add: Task, broker: MemoryBroker):
    # Given a countdown of 0, when sent, then the message is READY, not SCHEDULED
    add.apply_async((1, 2), countdown=0)
    counts = broker.counts("default")
    assert (counts.ready, counts.scheduled) == (1, 0)


def test_aware_eta_schedules_at_that_moment(add: Task, broker: MemoryBroker, clock: FakeClock):
    # Given an aware datetime one minute after the fake clock's now
    eta = dt.datetime.fromtimestamp(clock.now() + 60, tz=dt.UTC)

    # When a call is sent for it
    add.apply_async((1, 2), eta=eta)

    # Then it waits until that moment and no longer
    clock.advance(59)
    assert reserve_all(broker) == []
    clock.advance(1)
    assert len(reserve_all(broker)) == 1


def test_naive_eta_is_refused(add: Task, broker: MemoryBroker):
    # Given a naive datetime (no timezone: ambiguous across machines)
    # When a call is sent for it, then it is refused and nothing is written
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        add.apply_async((1, 2), eta=dt.datetime(2030, 1, 1))
    assert broker.queues() == []


def test_countdown_and_eta_together_are_refused(add: Task, broker: MemoryBroker):
    # Given both a countdown and an ETA, when a call is sent, then it is refused
    with pytest.raises(ConfigurationError, match="not both"):
        add.apply_async((1, 2), countdown=5, eta=dt.datetime.now(dt.UTC))
    assert broker.queues() == []


def test_negative_countdown_is_refused(add: Task):
    # Given a negative countdown, when a call is sent, then it is refused
    with pytest.raises(ConfigurationError, match="countdown"):
        add.apply_async((1, 2), countdown=-1)


@pytest.mark.parametrize("args", ["ab", b"ab", {"x": 1}])
def test_args_that_are_not_a_sequence_of_arguments_are_refused(add: Task, args: object):
    # Given args passed as a string or mapping by mistake (it would be split into arguments)
    # When the call is sent, then it is refused
    with pytest.raises(ConfigurationError, match="list or tuple"):
        add.apply_async(args)  # type: ignore[arg-type]


def test_priority_out_of_bounds_at_send_is_refused(add: Task, broker: MemoryBroker):
    # Given a per-call priority above 9, when sent, then it is refused as a configuration
    # mistake (not as a JSON problem) and nothing is written
    with pytest.raises(ConfigurationError, match="priority must be 0-9"):
        add.apply_async((1, 2), priority=10)
    assert broker.queues() == []


@pytest.fixture
def collections_run() -> Iterator[list[int]]:
    """The generations of the garbage collections that start while the test runs."""
    started: list[int] = []

    def watch(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append(info["generation"])

    gc.callbacks.append(watch)
    yield started
    gc.callbacks.remove(watch)


def test_delay_many_runs_no_garbage_collection_and_restores_the_collector(
    add: Task, broker: MemoryBroker, collections_run: list[int]
):
    # When thousands of calls are sent in one go (each leaves tracked objects behind)
    calls = [(i, i) for i in range(5000)]
    gc.collect(0)  # the young generation starts empty, as it is after any collection
    collections_run.clear()
    add.delay_many(calls)

    # Then no collection ran meanwhile (one may run at once after: the collector is on again)
    assert len(collections_run) <= 1
    assert gc.isenabled()
    assert len(reserve_all(broker)) == 1000


def test_delay_many_leaves_a_collector_that_was_off_off(add: Task):
    gc.disable()
    try:
        add.delay_many([(1, 2)])
        assert not gc.isenabled()
    finally:
        gc.enable()

"""What ``delay()`` refuses before anything is written, and what a reused ``task_id`` means.

Signature: a call that does not fit the function raises ``SignatureMismatch`` (a ``TypeError``).
Size: a message over ``Taskq(max_message_bytes=...)`` raises ``SerializationError`` naming both.
Ids: a ``task_id`` the queue holds returns the queued message's handle, marked ``duplicate``; an
id whose message finished is sent anew, and the old result is gone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from taskq_core import (
    BrokerFullError,
    ConfigurationError,
    PartialSendError,
    SerializationError,
    SignatureMismatch,
    Taskq,
    TaskqError,
    TaskResult,
    bulk,
)
from taskq_core.arguments import DEFAULT_MAX_MESSAGE_BYTES, CallCheck, too_big
from taskq_core.schemas import Message
from taskq_memory import MemoryBroker

if TYPE_CHECKING:
    from collections.abc import Sequence

    from taskq_core import FakeClock, Task

WORKER = "test-worker"


@pytest.fixture
def add(app: Taskq) -> Task[..., int]:
    @app.task(name="tests.add")
    def add(x: int, y: int) -> int:
        return x + y

    return add


def held(broker: MemoryBroker, queue: str = "default") -> int:
    counts = broker.counts(queue)
    return counts.ready + counts.scheduled + counts.processing + counts.dead


def finish(broker: MemoryBroker, value: object, clock: FakeClock) -> str:
    """Reserve the one READY message and ack it with a SUCCESS result; returns its id."""
    [delivery] = broker.reserve(["default"], worker_id=WORKER, lease=30.0)
    result = TaskResult(id=delivery.id, status="SUCCESS", value=value, finished_at=clock.now())
    assert broker.ack(delivery, result=result)
    return delivery.id


# -- signature -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "problem"),
    [
        pytest.param((1,), {}, "missing a required argument: 'y'", id="too-few"),
        pytest.param((1, 2, 3), {}, "too many positional arguments", id="too-many"),
        pytest.param((1, 2), {"z": 3}, "got an unexpected keyword argument 'z'", id="unknown-kw"),
        pytest.param((1,), {"x": 2}, "multiple values for argument 'x'", id="twice"),
    ],
)
def test_a_call_that_does_not_fit_the_signature_is_refused_at_delay(
    add: Task[..., int],
    broker: MemoryBroker,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    problem: str,
) -> None:
    # Given add(x, y), when it is sent with arguments that do not fit
    with pytest.raises(SignatureMismatch) as caught:
        add.apply_async(args, kwargs)

    # Then a TypeError (and TaskqError) names the task, the problem and the signature
    assert isinstance(caught.value, TypeError)
    assert isinstance(caught.value, TaskqError)
    assert str(caught.value) == f"cannot send 'tests.add': {problem} (it takes add(x, y))"
    # And nothing was written
    assert held(broker) == 0


def test_calls_that_fit_are_sent(app: Taskq, broker: MemoryBroker) -> None:
    # Given functions with defaults, *args, keyword-only and **kwargs parameters
    @app.task(name="tests.flexible")
    def flexible(a: int, b: int = 2, *rest: int, flag: bool = False, **extra: int) -> None: ...

    @app.task(name="tests.named")
    def named(a: int, *, must: int) -> None: ...

    # When they are sent in every shape that fits, then each is written
    flexible.delay(1)
    flexible.delay(1, 2, 3, 4)
    flexible.delay(a=1, flag=True, other=5)
    named.delay(1, must=2)
    assert held(broker) == 4
    # And a required keyword-only argument is still checked
    with pytest.raises(SignatureMismatch, match="missing a required argument: 'must'"):
        named.delay(1)


def test_delay_many_checks_every_call_before_writing_any(
    add: Task[..., int], broker: MemoryBroker
) -> None:
    # Given a batch whose last call does not fit
    calls = [(1, 2), (3, 4), (5,)]
    # When it is sent, then it is refused and nothing is written
    with pytest.raises(SignatureMismatch, match="missing a required argument: 'y'"):
        add.delay_many(calls)
    assert held(broker) == 0


class Unreadable:
    """A callable inspect cannot read a signature from."""

    __signature__ = "not a signature"

    def __call__(self, *args: Any, **kwargs: Any) -> None: ...


def test_a_callable_without_a_readable_signature_is_not_checked() -> None:
    # Given a callable without a readable signature, when calls are checked
    check = CallCheck(Unreadable())
    # Then every call is taken as it is
    assert check.signature is None
    assert check.problem((1, 2, 3), {"x": 1}) is None


# -- size ------------------------------------------------------------------------------------


def test_the_default_limit_is_one_mebibyte(app: Taskq) -> None:
    assert app.max_message_bytes == DEFAULT_MAX_MESSAGE_BYTES == 1024 * 1024


def test_a_message_over_the_limit_is_refused_naming_its_size_and_the_limit(
    add: Task[..., int], broker: MemoryBroker
) -> None:
    # Given the default limit, when an argument of 2 MiB is sent
    with pytest.raises(SerializationError) as caught:
        add.delay("x" * (2 * 1024 * 1024), 1)

    # Then the error names the task, the size and the limit, and nothing was written
    text = str(caught.value)
    assert "'tests.add'" in text
    assert "the message is 2097" in text
    assert f"over the limit of {1024 * 1024}" in text
    assert "max_message_bytes" in text
    assert held(broker) == 0


def test_the_limit_is_configurable_and_can_be_switched_off(broker: MemoryBroker) -> None:
    # Given an app with a 2000-byte limit and one without a limit
    small = Taskq(broker, max_message_bytes=2000)
    unlimited = Taskq(broker, max_message_bytes=None)
    echo_small = small.task(name="tests.echo")(lambda text: text)
    echo_unlimited = unlimited.task(name="tests.echo")(lambda text: text)

    # When a 3000-character argument is sent through each
    with pytest.raises(SerializationError, match="over the limit of 2000"):
        echo_small.delay("é" * 1500)  # 3000 bytes as UTF-8
    echo_unlimited.delay("x" * (2 * 1024 * 1024))

    # Then only the unlimited app wrote it
    assert held(broker) == 1


@pytest.mark.parametrize("limit", [0, -5])
def test_a_limit_below_one_byte_is_a_configuration_error(limit: int) -> None:
    with pytest.raises(ConfigurationError, match="max_message_bytes must be >= 1"):
        Taskq("memory://", max_message_bytes=limit)


def test_delay_many_checks_every_size_before_writing_any(broker: MemoryBroker) -> None:
    # Given a batch whose last message is over the limit
    app = Taskq(broker, max_message_bytes=4000)
    echo = app.task(name="tests.echo")(lambda text: text)
    # When it is sent, then it is refused and nothing is written
    with pytest.raises(SerializationError, match="over the limit of 4000"):
        echo.delay_many([("a",), ("b",), ("c" * 5000,)])
    assert held(broker) == 0


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        "x" * 3000,
        "é" * 1000,
        "\x00" * 500,
        ["a", 1, 2.5, None, True, {"k": ["v" * 100]}],
        10**300,
        {"nested": {"deeper": ["\u2603" * 200]}},
    ],
)
@pytest.mark.parametrize("limit", [400, 1000, 2000, 4000, 10_000])
def test_the_size_check_agrees_with_the_encoded_size(value: object, limit: int) -> None:
    # Given a message and a limit, when its size is checked
    message = Message.build(task="tests.echo", args=(value,), kwargs={"k": value})
    size = len(message.to_json().encode())
    # Then it is over the limit exactly when its encoding is
    assert too_big(message, limit) == (size if size > limit else None)


# -- reused task ids -------------------------------------------------------------------------


def test_a_task_id_still_queued_returns_its_handle_marked_duplicate(
    add: Task[..., int], broker: MemoryBroker
) -> None:
    # Given a message sent with a chosen id, still waiting
    first = add.apply_async((1, 2), task_id="order-17")
    # When the same id is sent again with other arguments
    second = add.apply_async((5, 5), task_id="order-17")
    # Then the second send wrote nothing and its handle says so
    assert first.duplicate is False
    assert second.duplicate is True
    assert second.id == first.id
    [delivery] = broker.reserve(["default"], worker_id=WORKER, lease=30.0, limit=10)
    assert delivery.message.args == (1, 2)


def test_a_task_id_reused_after_its_message_finished_waits_for_the_new_result(
    add: Task[..., int], broker: MemoryBroker, clock: FakeClock
) -> None:
    # Given a chosen id whose message ran and stored its result
    add.apply_async((1, 2), task_id="order-17")
    finish(broker, 3, clock)
    assert add.app.AsyncResult("order-17").get(timeout=0) == 3

    # When the id is used again
    again = add.apply_async((5, 5), task_id="order-17")

    # Then the old result is gone and a new message is written: get() waits for the new run
    assert again.status == "PENDING"
    assert again.duplicate is False
    finish(broker, 10, clock)
    assert again.get(timeout=0) == 10


def test_delay_many_with_task_ids_is_idempotent(
    add: Task[..., int], broker: MemoryBroker, clock: FakeClock
) -> None:
    # Given a batch sent with chosen ids
    calls = [(1, 2), (3, 4), (5, 6)]
    ids = ["a", "b", "c"]
    first = add.delay_many(calls, task_ids=ids)
    assert [handle.id for handle in first] == ids
    assert not any(handle.duplicate for handle in first)

    # When it is sent again, then nothing more is written and every handle is a duplicate
    again = add.delay_many(calls, task_ids=ids)
    assert all(handle.duplicate for handle in again)
    assert broker.counts("default").ready == 3


def test_delay_many_needs_one_task_id_per_call(add: Task[..., int], broker: MemoryBroker) -> None:
    with pytest.raises(ConfigurationError, match="2 ids for 3 calls"):
        add.delay_many([(1, 2), (3, 4), (5, 6)], task_ids=["a", "b"])
    assert held(broker) == 0


# -- bulk sends refused part way --------------------------------------------------------------


class FullAfter(MemoryBroker):
    """A memory broker that runs out of room after ``room`` batches (as a full Redis would)."""

    def __init__(self, room: int, **options: Any) -> None:
        super().__init__(**options)
        self.room = room

    def send_batch(
        self, messages: Sequence[Message], *, replace_result: bool = False
    ) -> list[bool]:
        if self.room == 0:
            raise BrokerFullError("full")
        self.room -= 1
        return super().send_batch(messages, replace_result=replace_result)


def test_a_bulk_send_refused_after_a_chunk_names_what_was_sent(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given chunks of 2 messages and a broker with room for one chunk
    monkeypatch.setattr(bulk, "BULK_CHUNK", 2)
    broker = FullAfter(1, clock=clock)
    app = Taskq(broker)
    echo = app.task(name="tests.echo")(lambda text: text)

    # When 5 calls are sent with chosen ids
    with pytest.raises(PartialSendError) as caught:
        echo.delay_many([("a",), ("b",), ("c",), ("d",), ("e",)], task_ids=list("abcde"))

    # Then the error lists the written ids and the others, chained to the refusal
    assert caught.value.sent == ("a", "b")
    assert caught.value.unsent == ("c", "d", "e")
    assert isinstance(caught.value.__cause__, BrokerFullError)
    assert str(caught.value).startswith("2 of 5 messages were sent")

    # And sending the whole batch again once there is room writes each id once
    broker.room = 10
    again = echo.delay_many([("a",), ("b",), ("c",), ("d",), ("e",)], task_ids=list("abcde"))
    assert [handle.duplicate for handle in again] == [True, True, False, False, False]
    assert broker.counts("default").ready == 5


def test_a_bulk_send_refused_before_any_write_raises_the_refusal(clock: FakeClock) -> None:
    # Given a broker with no room at all
    app = Taskq(FullAfter(0, clock=clock))
    echo = app.task(name="tests.echo")(lambda text: text)
    # When a batch is sent, then the broker's error comes through as it is
    with pytest.raises(BrokerFullError):
        echo.delay_many([("a",)])

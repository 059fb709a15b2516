"""adelay, aapply_async and adelay_many: the sync send path's checks, options and hooks, awaited.

Each test runs its coroutine with ``asyncio.run`` on the in-memory broker of ``conftest.py``.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING

import pytest

from taskq_core import (
    ConfigurationError,
    Reject,
    SerializationError,
    SignatureMismatch,
    hookimpl,
)
from taskq_memory import MemoryBroker

if TYPE_CHECKING:
    from taskq_core import FakeClock, Message, Task, Taskq

WORKER = "test-worker"


@pytest.fixture
def add(app: Taskq) -> Task[..., int]:
    @app.task(name="tests.add", priority=3)
    def add(x: int, y: int) -> int:
        return x + y

    return add


def reserve_all(broker: MemoryBroker, queue: str = "default") -> list[Message]:
    deliveries = broker.reserve([queue], worker_id=WORKER, lease=30.0, limit=1000)
    return [delivery.message for delivery in deliveries]


def test_adelay_writes_the_message_delay_would(add: Task[..., int], broker: MemoryBroker):
    # Given a registered task, when it is sent from a coroutine
    handle = asyncio.run(add.adelay(2, y=3))

    # Then one READY message carries the call and the task's defaults, under the handle's id
    [message] = reserve_all(broker)
    assert (message.id, message.task, message.args, message.kwargs) == (
        handle.id,
        "tests.add",
        (2,),
        {"y": 3},
    )
    assert message.priority == 3
    assert handle.duplicate is False


def test_aapply_async_takes_the_options_of_apply_async(
    add: Task[..., int], broker: MemoryBroker, clock: FakeClock
):
    # Given a task, when it is sent with a countdown, a queue, a priority and headers
    handle = asyncio.run(
        add.aapply_async(
            (1, 2), countdown=60, queue="slow", priority=7, headers={"tenant": "a"}, max_retries=2
        )
    )

    # Then it waits in SCHEDULED of that queue until the countdown has passed
    assert broker.counts("slow").scheduled == 1
    clock.advance(61)
    [message] = reserve_all(broker, "slow")
    assert (message.id, message.priority, message.headers["tenant"], message.max_retries) == (
        handle.id,
        7,
        "a",
        2,
    )


def test_aapply_async_with_a_queued_task_id_is_a_duplicate(
    add: Task[..., int], broker: MemoryBroker
):
    # Given a message sent with a chosen id
    first = asyncio.run(add.aapply_async((1, 2), task_id="order-1"))

    # When the same id is sent again
    again = asyncio.run(add.aapply_async((5, 5), task_id="order-1"))

    # Then nothing more was written and the handle says so
    assert (first.duplicate, again.duplicate, again.id) == (False, True, "order-1")
    assert [m.args for m in reserve_all(broker)] == [(1, 2)]


def test_adelay_many_sends_every_call_and_flags_known_ids(
    add: Task[..., int], broker: MemoryBroker
):
    # Given one id already queued
    asyncio.run(add.aapply_async((0, 0), task_id="b"))

    # When a batch with that id among others is sent
    handles = asyncio.run(add.adelay_many([(1, 1), {"x": 2, "y": 2}, (3, 3)], task_ids="abc"))

    # Then the other two were written and the known one is a duplicate
    assert [(h.id, h.duplicate) for h in handles] == [("a", False), ("b", True), ("c", False)]
    assert sorted(m.args for m in reserve_all(broker)) == [(0, 0), (1, 1), (3, 3)]


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda add: add.adelay(1), SignatureMismatch),
        (lambda add: add.adelay(1, {1, 2}), SerializationError),
        (lambda add: add.aapply_async((1, 2), priority=10), ConfigurationError),
        (lambda add: add.aapply_async((1, 2), countdown=1, eta=5.0), ConfigurationError),
        (lambda add: add.adelay(1, "x" * 2_000_000), SerializationError),
        (lambda add: add.adelay_many([(1, 2), (1,)]), SignatureMismatch),
        (lambda add: add.adelay_many([(1, 2)], task_ids=["a", "b"]), ConfigurationError),
    ],
    ids=["signature", "non-json", "priority", "countdown-and-eta", "too-big", "many", "ids"],
)
def test_async_sends_refuse_what_sync_sends_refuse_and_write_nothing(
    add: Task[..., int], broker: MemoryBroker, call, error: type[Exception]
):
    # Given a call the sync path refuses, when it is sent from a coroutine
    with pytest.raises(error):
        asyncio.run(call(add))

    # Then nothing was written
    assert broker.queues() == []


def test_send_hooks_fire_around_async_sends(use_plugin, add: Task[..., int], broker: MemoryBroker):
    # Given a plugin that records each hook, and refuses calls with a 0
    seen: list[tuple[str, object]] = []

    class Recorder:
        @hookimpl
        def taskq_before_send(self, message: Message) -> None:
            if 0 in message.args:
                raise Reject("no zeros")
            seen.append(("before", message.args))

        @hookimpl
        def taskq_after_send(self, message: Message, eta: float | None) -> None:
            seen.append(("after", message.args))

    use_plugin(Recorder())

    # When a call and a batch are sent, and then a refused call
    asyncio.run(add.adelay(1, 1))
    asyncio.run(add.adelay_many([(2, 2), (3, 3)]))
    with pytest.raises(Reject, match="no zeros"):
        asyncio.run(add.adelay_many([(4, 4), (0, 0)]))

    # Then the hooks fired as for sync sends: every before_send of a batch before its writes,
    # and a refused batch wrote nothing
    assert seen == [
        ("before", (1, 1)),
        ("after", (1, 1)),
        ("before", (2, 2)),
        ("before", (3, 3)),
        ("after", (2, 2)),
        ("after", (3, 3)),
        ("before", (4, 4)),
    ]
    assert len(reserve_all(broker)) == 3


@pytest.mark.parametrize("call", ["adelay", "adelay_many"])
def test_async_sends_of_a_unique_task_are_refused_not_sent_without_the_claim(
    app: Taskq, broker: MemoryBroker, call: str
):
    # Given a unique task (its key is claimed only by the sync send path)
    @app.task(name="tests.unique_report", unique_for=60)
    def report() -> None: ...

    # When it is sent from a coroutine, then one line says to use the sync call
    send = report.adelay() if call == "adelay" else report.adelay_many([()])
    unique_line = "cannot send the unique task 'tests.unique_report'"
    with pytest.raises(ConfigurationError, match=re.escape(unique_line)):
        asyncio.run(send)

    # And nothing was written, so no second copy can slip past the key
    assert broker.queues() == []


def test_aapply_async_with_a_countdown_carries_the_eta_apply_async_would(
    add: Task[..., int], broker: MemoryBroker, clock: FakeClock
):
    # Given the same call sent with a countdown, once in sync and once from a coroutine
    add.apply_async((1, 2), countdown=60, task_id="sync")
    asyncio.run(add.aapply_async((1, 2), countdown=60, task_id="async"))

    # When both are due and reserved
    clock.advance(61)
    messages = {message.id: message for message in reserve_all(broker)}

    # Then both carry the same headers: the ETA that ``request.eta`` reads
    assert messages["async"].headers == messages["sync"].headers
    assert "taskq-eta" in messages["async"].headers

"""Reused ids: a new message under an id whose message is gone does not inherit its result.

Producers may choose message ids (``apply_async(task_id=...)``, ``delay_many(task_ids=...)``).
While the queue holds the id, a send is a no-op; once the message is acked the id is free, and a
send with ``replace_result=True`` writes the new message and deletes the old result in the same
atomic step, so nobody waiting on the id is answered by the earlier run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

import pytest

from taskq_core.capabilities import ResultStore
from taskq_core.schemas import Message, TaskResult
from taskq_core.testing.conformance.base import ConformanceBase, reserve_one, reserved_ids

if TYPE_CHECKING:
    from taskq_core.clock import FakeClock
    from taskq_core.testing.conformance.base import Broker, Requires
    from taskq_core.testing.plugin import MessageFactory


def finished(message: Message, clock: FakeClock, status: str = "SUCCESS") -> TaskResult:
    """A result of ``message``'s run (a FAILURE when ``status`` says so)."""
    if status == "SUCCESS":
        return TaskResult(id=message.id, status="SUCCESS", value="old", finished_at=clock.now())
    return TaskResult(
        id=message.id,
        status="FAILURE",
        error_type="ValueError",
        error_message="old",
        finished_at=clock.now(),
    )


#: The three ways to write a message, each with ``replace_result=True``.
REPLACING_SENDS: dict[str, Callable[[Broker, Message, FakeClock], bool]] = {
    "send": lambda broker, message, clock: broker.send(message, replace_result=True),
    "schedule": lambda broker, message, clock: broker.schedule(
        message, eta=clock.now(), replace_result=True
    ),
    "send_batch": lambda broker, message, clock: broker.send_batch([message], replace_result=True)[
        0
    ],
}


class ReusedIdTests(ConformanceBase):
    """A send with ``replace_result`` clears a finished id's result; a no-op send clears nothing."""

    requires: ClassVar[Requires] = (ResultStore,)

    @pytest.mark.parametrize("how", sorted(REPLACING_SENDS))
    def test_a_reused_id_of_a_finished_message_starts_without_its_result(
        self,
        broker: Broker,
        clock: FakeClock,
        make_message: MessageFactory,
        queue_name: str,
        how: str,
    ) -> None:
        """The new message is written, and the earlier run's result is gone."""
        # Given a message that ran and was acked with a result
        first = make_message(id="chosen-id")
        broker.send(first)
        broker.ack(reserve_one(broker, queue_name), result=finished(first, clock))
        # When a new message with the same id is sent, replacing the result
        second = make_message(id="chosen-id", args=("second",))
        written = REPLACING_SENDS[how](broker, second, clock)
        # Then it is written, no result is stored for the id, and the new message runs
        assert written is True
        assert broker.get_result("chosen-id") is None
        held = reserve_one(broker, queue_name)
        assert held.message.args == ("second",)

    @pytest.mark.parametrize("how", sorted(REPLACING_SENDS))
    def test_a_send_of_an_id_still_held_keeps_its_result(
        self,
        broker: Broker,
        clock: FakeClock,
        make_message: MessageFactory,
        queue_name: str,
        how: str,
    ) -> None:
        """An id in DEAD is still held: the send writes nothing and the FAILURE stays."""
        # Given a message that went to DEAD with a FAILURE result
        first = make_message(id="chosen-id")
        broker.send(first)
        failure = finished(first, clock, "FAILURE")
        broker.dead(reserve_one(broker, queue_name), reason="test", result=failure)
        # When a message with the same id is sent again, replacing the result
        written = REPLACING_SENDS[how](broker, make_message(id="chosen-id"), clock)
        # Then nothing was written and the failure is still there
        assert written is False
        assert broker.get_result("chosen-id") == failure
        assert reserved_ids(broker.reserve([queue_name], worker_id="w", lease=30.0)) == []

    def test_a_send_without_replace_result_leaves_a_stored_result(
        self, broker: Broker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Without ``replace_result`` a send touches only the queue (generated ids need no more)."""
        # Given an id with a stored result and no message
        first = make_message(id="chosen-id")
        broker.send(first)
        result = finished(first, clock)
        broker.ack(reserve_one(broker, queue_name), result=result)
        # When a message with that id is sent without replace_result
        assert broker.send(make_message(id="chosen-id")) is True
        # Then the result is still stored
        assert broker.get_result("chosen-id") == result

    def test_replace_result_clears_only_the_ids_a_batch_writes(
        self, broker: Broker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """In one batch, a finished id loses its result and a held id keeps its own."""
        # Given one id whose message finished and one whose message is in DEAD, both with results
        done = make_message(id="done-id")
        dead = make_message(id="dead-id")
        broker.send_batch([done, dead])
        held = broker.reserve([queue_name], worker_id="w", lease=30.0, limit=2)
        by_id = {delivery.id: delivery for delivery in held}
        broker.ack(by_id["done-id"], result=finished(done, clock))
        failure = finished(dead, clock, "FAILURE")
        broker.dead(by_id["dead-id"], reason="test", result=failure)
        # When both ids are sent again in one batch, replacing results
        written = broker.send_batch(
            [make_message(id="done-id"), make_message(id="dead-id")], replace_result=True
        )
        # Then only the finished id is written and loses its result
        assert written == [True, False]
        assert broker.get_result("done-id") is None
        assert broker.get_result("dead-id") == failure

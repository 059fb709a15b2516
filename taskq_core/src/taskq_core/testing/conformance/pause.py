"""Paused queues: reserve hands out nothing from them; sends still write; resume wakes workers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar

import pytest

from taskq_core.capabilities import Inspection, QueueControl
from taskq_core.testing.conformance.base import (
    WORKER,
    BlockedReserve,
    ConformanceBase,
    reserve_one,
    reserved_ids,
)

if TYPE_CHECKING:
    from taskq_core.clock import FakeClock
    from taskq_core.testing.conformance.base import Broker, Requires
    from taskq_core.testing.plugin import MessageFactory


class PauseTests(ConformanceBase):
    """``pause``/``resume``: a flag in the broker that every reserve obeys at once."""

    requires: ClassVar[Requires] = (QueueControl,)

    @pytest.fixture
    def paused_queue(self, broker: Broker, queue_name: str) -> Iterator[str]:
        """``queue_name``, paused for the test and resumed afterwards."""
        assert broker.pause(queue_name)
        yield queue_name
        broker.resume(queue_name)

    def test_a_paused_queue_hands_out_nothing(
        self, broker: Broker, make_message: MessageFactory, paused_queue: str
    ) -> None:
        """READY work stays READY while the queue is paused."""
        # Given a paused queue with ready messages
        broker.send_batch([make_message(), make_message()])
        # When a worker reserves from it
        batch = broker.reserve([paused_queue], worker_id=WORKER, lease=30.0, limit=10)
        # Then it gets nothing and the messages wait
        assert batch == []
        assert broker.counts(paused_queue).ready == 2
        assert broker.paused(paused_queue)

    def test_sends_to_a_paused_queue_are_written(
        self, broker: Broker, make_message: MessageFactory, paused_queue: str
    ) -> None:
        """Producers are not stopped by a pause."""
        # Given a paused queue
        message = make_message()
        # When a message is sent to it
        # Then it is written
        assert broker.send(message)
        if isinstance(broker, Inspection):
            info = broker.message_info(paused_queue, message.id)
            assert info is not None
            assert info.state == "ready"

    def test_resume_hands_the_messages_out_again(
        self, broker: Broker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """After resume, the messages sent during the pause are reserved in order."""
        # Given messages sent to a paused queue
        broker.pause(queue_name)
        first, second = make_message(), make_message()
        broker.send_batch([first, second])
        # When the queue is resumed
        assert broker.resume(queue_name)
        # Then a reserve gets them, first in first out
        assert not broker.paused(queue_name)
        batch = broker.reserve([queue_name], worker_id=WORKER, lease=30.0, limit=10)
        assert reserved_ids(batch) == [first.id, second.id]

    def test_pause_and_resume_say_whether_they_changed_anything(
        self, broker: Broker, queue_name: str
    ) -> None:
        """A second pause, or a resume of a running queue, is a no-op answering ``False``."""
        # Given a running queue
        assert not broker.paused(queue_name)
        # When it is resumed, paused twice and resumed twice
        # Then only the first of each changed anything
        assert broker.resume(queue_name) is False
        assert broker.pause(queue_name) is True
        assert broker.pause(queue_name) is False
        assert broker.resume(queue_name) is True
        assert broker.resume(queue_name) is False

    def test_resume_wakes_a_reserve_blocked_on_the_paused_queue(
        self, broker: Broker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A worker waiting on a paused queue with READY work gets it as soon as it resumes."""
        # Given a paused queue with a ready message and a worker blocked on it
        broker.pause(queue_name)
        message = make_message()
        broker.send(message)
        blocked = BlockedReserve(broker, [queue_name])
        # When the queue is resumed
        broker.resume(queue_name)
        # Then the blocked worker wakes up with the message
        assert reserved_ids(blocked.outcome()) == [message.id]

    def test_a_paused_queue_lets_reserve_move_on_to_the_next_queue(
        self,
        broker: Broker,
        make_message: MessageFactory,
        paused_queue: str,
        other_queue: str,
    ) -> None:
        """A paused queue counts as empty, so it starves no other queue."""
        # Given a paused queue with work, listed before a running one with work
        broker.send(make_message())
        other = make_message(queue=other_queue)
        broker.send(other)
        # When a worker reserves from both
        batch = broker.reserve([paused_queue, other_queue], worker_id=WORKER, lease=30.0)
        # Then it gets the running queue's message
        assert reserved_ids(batch) == [other.id]

    def test_due_scheduled_messages_of_a_paused_queue_are_not_handed_out(
        self,
        broker: Broker,
        clock: FakeClock,
        make_message: MessageFactory,
        queue_name: str,
    ) -> None:
        """An ETA that comes during the pause waits (SCHEDULED or READY) until resume."""
        # Given a paused queue with a message scheduled for later
        broker.pause(queue_name)
        message = make_message()
        broker.schedule(message, eta=clock.now() + 10.0)
        # When its ETA passes while the queue is paused
        clock.advance(11.0)
        # Then no reserve hands it out
        assert broker.reserve([queue_name], worker_id=WORKER, lease=30.0) == []
        if isinstance(broker, Inspection):
            info = broker.message_info(queue_name, message.id)
            assert info is not None
            assert info.state in {"scheduled", "ready"}
        # And after resume it is
        broker.resume(queue_name)
        assert reserve_one(broker, queue_name).id == message.id

    def test_messages_in_processing_settle_while_paused(
        self, broker: Broker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Pausing stops new reservations only; running messages ack as usual."""
        # Given a message in PROCESSING when its queue is paused
        broker.send(make_message())
        held = reserve_one(broker, queue_name)
        broker.pause(queue_name)
        # When it is acked
        # Then the ack succeeds and the queue is empty
        assert broker.ack(held)
        counts = broker.counts(queue_name)
        assert (counts.ready, counts.processing) == (0, 0)
        broker.resume(queue_name)

    def test_a_send_to_a_paused_queue_does_not_hand_work_to_a_blocked_reserve(
        self, broker: Broker, make_message: MessageFactory, paused_queue: str
    ) -> None:
        """A blocked worker that a send wakes still finds nothing it may take."""
        # Given a worker waiting briefly on a paused queue
        blocked = BlockedReserve(broker, [paused_queue], timeout=0.5)
        # When a message is sent to the queue
        broker.send(make_message())
        # Then the worker's wait ends empty and the message is still READY
        assert blocked.outcome() == []
        assert broker.counts(paused_queue).ready == 1

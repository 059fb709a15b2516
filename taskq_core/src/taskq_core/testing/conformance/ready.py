"""READY: sending, idempotency, and the order in which ``reserve`` hands messages out."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from taskq_core.testing.conformance.base import (
    LEASE,
    WORKER,
    ConformanceBase,
    reserve_one,
    reserved_ids,
)

if TYPE_CHECKING:
    from taskq_core.broker import BaseBroker
    from taskq_core.clock import FakeClock
    from taskq_core.testing.plugin import MessageFactory


class ReadyTests(ConformanceBase):
    """Messages sent to READY come back out in the promised order, once each."""

    def test_reserve_returns_the_sent_message_intact(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A reserved message equals the one sent: id, task, arguments, headers, priority."""
        # Given a message with every kind of field filled in
        message = make_message(
            args=(1, "two", [3.5, None]),
            kwargs={"flag": True, "nested": {"k": [1, 2]}},
            headers={"trace": "abc"},
            priority=4,
            max_retries=2,
            max_deliveries=7,
        )
        # When it is sent and reserved
        assert broker.send(message) is True
        delivery = reserve_one(broker, queue_name)
        # Then the decoded message is the same value
        assert delivery.message == message

    def test_first_delivery_carries_token_one_and_the_worker(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """The first delivery has token 1, no retries, is not redelivered, names its worker."""
        # Given a sent message
        broker.send(make_message())
        # When a worker reserves it
        delivery = reserve_one(broker, queue_name, worker_id=WORKER)
        # Then the delivery describes a first, fresh reservation by that worker
        assert (delivery.token, delivery.retries, delivery.redelivered) == (1, 0, False)
        assert delivery.worker_id == WORKER
        assert delivery.queue == queue_name

    def test_ready_is_fifo(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Messages of one priority come out in the order they were sent."""
        # Given five messages sent in order
        messages = [make_message() for _ in range(5)]
        for message in messages:
            broker.send(message)
        # When they are reserved one at a time
        got = [reserve_one(broker, queue_name).id for _ in messages]
        # Then the order is the send order
        assert got == [message.id for message in messages]

    def test_reserve_takes_at_most_limit(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A batch reserve takes the first ``limit`` messages and leaves the rest READY."""
        # Given five ready messages
        messages = [make_message() for _ in range(5)]
        broker.send_batch(messages)
        # When three are reserved in one call
        batch = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE, limit=3)
        # Then the first three come out, and two stay ready
        assert reserved_ids(batch) == [m.id for m in messages[:3]]
        counts = broker.counts(queue_name)
        assert (counts.ready, counts.processing) == (2, 3)

    def test_reserve_limit_above_ready_returns_everything(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A limit larger than the queue returns what there is, without waiting."""
        # Given two ready messages
        broker.send_batch([make_message(), make_message()])
        # When ten are asked for
        batch = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE, limit=10)
        # Then both come out
        assert len(batch) == 2

    def test_reserve_on_empty_queue_returns_empty_list(
        self, broker: BaseBroker, queue_name: str
    ) -> None:
        """With nothing ready and ``timeout=0``, reserve returns ``[]`` at once."""
        # Given an empty queue, when a worker reserves without waiting
        batch = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE, timeout=0)
        # Then it gets nothing
        assert batch == []

    def test_queues_are_tried_in_order(
        self,
        broker: BaseBroker,
        make_message: MessageFactory,
        queue_name: str,
        other_queue: str,
    ) -> None:
        """The first listed queue with work wins, even if the later one got its message first."""
        # Given a message in the second queue, then one in the first queue
        later = make_message(queue=other_queue)
        first = make_message(queue=queue_name)
        broker.send(later)
        broker.send(first)
        # When a worker reserves from [first, second] twice
        order = [
            reserved_ids(broker.reserve([queue_name, other_queue], worker_id=WORKER, lease=LEASE))
            for _ in range(2)
        ]
        # Then the first queue's message came first, then the second queue's
        assert order == [[first.id], [later.id]]

    def test_batch_comes_from_the_first_queue_that_has_messages(
        self,
        broker: BaseBroker,
        make_message: MessageFactory,
        queue_name: str,
        other_queue: str,
    ) -> None:
        """A batch is filled from one queue: the first listed one that has any."""
        # Given two messages in each of two queues
        firsts = [make_message(queue=queue_name) for _ in range(2)]
        broker.send_batch(
            [*firsts, make_message(queue=other_queue), make_message(queue=other_queue)]
        )
        # When three are reserved from [first, second]
        batch = broker.reserve([queue_name, other_queue], worker_id=WORKER, lease=LEASE, limit=3)
        # Then only the first queue's two come out
        assert reserved_ids(batch) == [m.id for m in firsts]
        assert broker.counts(other_queue).ready == 2

    def test_reserve_ignores_queues_not_listed(
        self,
        broker: BaseBroker,
        make_message: MessageFactory,
        queue_name: str,
        other_queue: str,
    ) -> None:
        """A worker never receives messages of a queue it did not ask for."""
        # Given a message in another queue
        broker.send(make_message(queue=other_queue))
        # When a worker reserves from its own queue only
        batch = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE)
        # Then it gets nothing, and the other queue still holds its message
        assert batch == []
        assert broker.counts(other_queue).ready == 1

    def test_higher_priority_first(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Larger priority is reserved first, whatever the send order."""
        # Given messages of priority 0, 9 and 5 sent in that order
        low, high, middle = (make_message(priority=p) for p in (0, 9, 5))
        broker.send_batch([low, high, middle])
        # When all three are reserved
        batch = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE, limit=3)
        # Then they come out 9, 5, 0
        assert reserved_ids(batch) == [high.id, middle.id, low.id]

    def test_fifo_within_a_priority(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Messages of equal priority keep their send order, interleaved with other levels."""
        # Given two levels sent interleaved
        sent = [make_message(priority=p) for p in (3, 7, 3, 7, 3)]
        broker.send_batch(sent)
        # When everything is reserved
        batch = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE, limit=5)
        # Then the 7s come first, each level in send order
        expected = [m.id for m in sent if m.priority == 7] + [m.id for m in sent if m.priority == 3]
        assert reserved_ids(batch) == expected

    def test_limit_is_respected_across_priority_levels(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A batch spills from the highest level into the next, and stops at ``limit``."""
        # Given two messages at priority 9 and two at priority 0
        high = [make_message(priority=9) for _ in range(2)]
        low = [make_message(priority=0) for _ in range(2)]
        broker.send_batch([*low, *high])
        # When three are reserved
        batch = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE, limit=3)
        # Then both 9s and the oldest 0 come out, and one 0 stays ready
        assert reserved_ids(batch) == [high[0].id, high[1].id, low[0].id]
        assert broker.counts(queue_name).ready == 1

    def test_send_is_idempotent_by_id(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Sending the same id twice stores one message: a retried send cannot duplicate."""
        # Given a sent message
        message = make_message()
        assert broker.send(message) is True
        # When the same id is sent again, even with other content
        again = message.model_copy(update={"args": ("different",)})
        # Then the second send is refused and one message is ready
        assert broker.send(again) is False
        assert broker.counts(queue_name).ready == 1
        assert reserve_one(broker, queue_name).message == message

    def test_idempotency_is_per_queue(
        self,
        broker: BaseBroker,
        make_message: MessageFactory,
        queue_name: str,
        other_queue: str,
    ) -> None:
        """An id is known to the queue that holds it: another queue accepts the same id."""
        # Given a message sent to one queue
        message = make_message(queue=queue_name)
        broker.send(message)
        # When a message with the same id is sent to another queue
        accepted = broker.send(message.model_copy(update={"queue": other_queue}))
        # Then it is accepted there, and each queue holds one
        assert accepted is True
        assert (broker.counts(queue_name).ready, broker.counts(other_queue).ready) == (1, 1)

    @pytest.mark.parametrize("state", ["scheduled", "processing", "dead"])
    def test_send_refuses_an_id_known_in_any_state(
        self,
        broker: BaseBroker,
        clock: FakeClock,
        make_message: MessageFactory,
        queue_name: str,
        state: str,
    ) -> None:
        """An id waiting, running or dead is known: sending it again changes nothing."""
        # Given a message that is in the given state
        message = make_message()
        if state == "scheduled":
            broker.schedule(message, eta=clock.now() + 60)
        else:
            broker.send(message)
            delivery = reserve_one(broker, queue_name)
            if state == "dead":
                broker.dead(delivery, reason="test")
        before = broker.counts(queue_name)
        # When it is sent again
        accepted = broker.send(message)
        # Then the send is refused and no count moved
        assert accepted is False
        assert broker.counts(queue_name) == before

    def test_send_batch_returns_what_each_send_would(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Each result of ``send_batch`` says whether that message was new."""
        # Given one message already sent
        known, fresh, other = make_message(), make_message(), make_message()
        broker.send(known)
        # When a batch repeats it, and repeats a new one within itself
        results = broker.send_batch([known, fresh, fresh, other])
        # Then only the first sight of each new id is accepted
        assert results == [False, True, False, True]
        assert broker.counts(queue_name).ready == 3

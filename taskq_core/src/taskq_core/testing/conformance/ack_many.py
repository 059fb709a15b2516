"""Acking many deliveries at once: the same effect as acking each, fenced one by one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskq_core.capabilities import ResultStore
from taskq_core.testing.conformance.base import (
    LEASE,
    OTHER_WORKER,
    WORKER,
    ConformanceBase,
    lose_lease,
    skip_missing,
)
from taskq_core.testing.conformance.results import LONG_TTL, success

if TYPE_CHECKING:
    from taskq_core.broker import BaseBroker
    from taskq_core.clock import FakeClock
    from taskq_core.testing.plugin import MessageFactory


class AckManyTests(ConformanceBase):
    """``ack_many`` acks every held delivery, refuses the lost ones, and stores results."""

    def test_ack_many_acks_every_held_delivery(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Every delivery given is acked: the queue is empty in every state afterwards."""
        # Given three reserved messages
        broker.send_batch([make_message() for _ in range(3)])
        held = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE, limit=3)
        assert len(held) == 3
        # When the worker acks them together
        acked = broker.ack_many(held)
        # Then each was acked and nothing is left
        assert acked == [True, True, True]
        counts = broker.counts(queue_name)
        assert (counts.ready, counts.scheduled, counts.processing, counts.dead) == (0, 0, 0, 0)
        assert broker.reserve([queue_name], worker_id=WORKER, lease=LEASE) == []

    def test_ack_many_of_nothing_does_nothing(self, broker: BaseBroker) -> None:
        """An empty batch is allowed and answers an empty list."""
        assert broker.ack_many([]) == []

    def test_ack_many_fences_each_delivery_on_its_own(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A lost lease refuses that delivery only; the new holder's message is untouched."""
        # Given three reserved messages, the second of which lost its lease to another worker
        broker.send_batch([make_message() for _ in range(3)])
        first = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE, limit=1)[0]
        second = broker.reserve([queue_name], worker_id=WORKER, lease=1.0, limit=1)[0]
        third = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE, limit=1)[0]
        lose_lease(broker, clock, second)
        taken = broker.reserve([queue_name], worker_id=OTHER_WORKER, lease=LEASE)
        assert [delivery.id for delivery in taken] == [second.id]
        # When the first worker acks all three together
        acked = broker.ack_many([first, second, third])
        # Then the stale one is refused and still belongs to the other worker
        assert acked == [True, False, True]
        assert broker.counts(queue_name).processing == 1
        assert broker.ack(taken[0]) is True

    def test_ack_many_acks_a_delivery_given_twice_once(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A delivery listed twice is acked once; the second copy answers like a repeated ack."""
        # Given a reserved message
        broker.send(make_message())
        held = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE)
        # When it is listed twice in one batch
        acked = broker.ack_many([held[0], held[0]])
        # Then it was acked once, and both copies report the ack
        assert acked == [True, True]
        assert broker.counts(queue_name).processing == 0
        assert not broker.recover_expired(queue_name)

    def test_ack_many_spans_queues(
        self,
        broker: BaseBroker,
        make_message: MessageFactory,
        queue_name: str,
        other_queue: str,
    ) -> None:
        """Deliveries of several queues can be acked in one call, answers in the given order."""
        # Given a reserved message in each of two queues
        broker.send(make_message())
        broker.send(make_message(queue=other_queue))
        ours = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE)
        theirs = broker.reserve([other_queue], worker_id=WORKER, lease=LEASE)
        # When both are acked together, then both are gone
        assert broker.ack_many([*theirs, *ours]) == [True, True]
        assert broker.counts(queue_name).processing == 0
        assert broker.counts(other_queue).processing == 0

    def test_ack_many_stores_each_result_even_when_fenced_out(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Results travel with the batch, one per delivery; ``None`` stores nothing."""
        if not isinstance(broker, ResultStore):
            skip_missing(broker, ResultStore)
        # Given three reserved messages, the last of which lost its lease
        messages = [make_message() for _ in range(3)]
        broker.send_batch(messages)
        held = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE, limit=2)
        late = broker.reserve([queue_name], worker_id=WORKER, lease=1.0)[0]
        lose_lease(broker, clock, late)
        results = [success(messages[0], clock, value=1), None, success(messages[2], clock, value=3)]
        # When they are acked together with a result for the first and the last
        acked = broker.ack_many([*held, late], results=results, result_ttl=LONG_TTL)
        # Then both results are stored, the fenced-out one too, and the middle one has none
        assert acked == [True, True, False]
        assert broker.get_result(messages[0].id) == results[0]
        assert broker.get_result(messages[1].id) is None
        assert broker.get_result(messages[2].id) == results[2]

    def test_ack_many_takes_one_result_ttl_per_delivery(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Each result expires after its own TTL on the broker's clock."""
        if not isinstance(broker, ResultStore):
            skip_missing(broker, ResultStore)
        # Given two reserved messages acked with results of different lifetimes
        messages = [make_message() for _ in range(2)]
        broker.send_batch(messages)
        held = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE, limit=2)
        results = [success(message, clock) for message in messages]
        assert broker.ack_many(held, results=results, result_ttl=[10.0, LONG_TTL]) == [True, True]
        # When the clock passes the shorter lifetime only
        clock.advance(20.0)
        # Then only the longer-lived result is left
        assert broker.get_result(messages[0].id) is None
        assert broker.get_result(messages[1].id) == results[1]

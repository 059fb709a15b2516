"""Monitoring and admin: counts per state, the list of queues, purge."""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskq_core.schemas import QueueCounts
from taskq_core.testing.conformance.base import (
    LEASE,
    WORKER,
    ConformanceBase,
    reserve_one,
)

if TYPE_CHECKING:
    from taskq_core.broker import BaseBroker
    from taskq_core.clock import FakeClock
    from taskq_core.testing.plugin import MessageFactory


class MonitoringTests(ConformanceBase):
    """Counts and queue lists tell the truth after every transition; purge spares running work."""

    def test_counts_of_an_unknown_queue_are_zero(self, broker: BaseBroker, queue_name: str) -> None:
        """A queue nobody used counts zero everywhere, named as asked."""
        # Given a queue that never received anything, when it is counted
        counts = broker.counts(queue_name)
        # Then every state is empty
        assert counts == QueueCounts(queue=queue_name)

    def test_counts_show_one_message_in_each_state(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Each state is counted separately."""
        # Given one message ready, one scheduled, one processing and one dead
        broker.send_batch([make_message(), make_message()])
        broker.dead(reserve_one(broker, queue_name), reason="test")
        reserve_one(broker, queue_name)
        broker.send(make_message())
        broker.schedule(make_message(), eta=clock.now() + 60.0)
        # When the queue is counted
        counts = broker.counts(queue_name)
        # Then each state holds one
        assert counts == QueueCounts(queue=queue_name, ready=1, scheduled=1, processing=1, dead=1)

    def test_counts_follow_a_message_through_its_life(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """After every transition the message is counted in exactly one state, then in none."""

        def where() -> tuple[int, int, int, int]:
            c = broker.counts(queue_name)
            return (c.ready, c.scheduled, c.processing, c.dead)

        # Given a message, when it goes through send, reserve, retry, promotion, dead,
        # requeue and ack, then the counts follow it step by step
        broker.send(make_message())
        assert where() == (1, 0, 0, 0)
        delivery = reserve_one(broker, queue_name)
        assert where() == (0, 0, 1, 0)
        broker.retry(delivery, delay=5.0, error="boom")
        assert where() == (0, 1, 0, 0)
        clock.advance(5.0)
        assert broker.poll_schedule(queue_name) == 1
        assert where() == (1, 0, 0, 0)
        broker.dead(reserve_one(broker, queue_name), reason="test")
        assert where() == (0, 0, 0, 1)
        broker.requeue_dead(queue_name)
        assert where() == (1, 0, 0, 0)
        broker.ack(reserve_one(broker, queue_name))
        assert where() == (0, 0, 0, 0)

    def test_queues_lists_every_queue_that_received_a_message(
        self,
        broker: BaseBroker,
        clock: FakeClock,
        make_message: MessageFactory,
        queue_name: str,
        other_queue: str,
        third_queue: str,
    ) -> None:
        """Sent-to and scheduled-to queues are listed, sorted; a queue only read from is not."""
        # Given a send to one queue, a schedule to another, and a reserve on a third
        broker.send(make_message(queue=other_queue))
        broker.schedule(make_message(queue=queue_name), eta=clock.now() + 60.0)
        broker.reserve([third_queue], worker_id=WORKER, lease=LEASE)
        # When the queues are listed
        names = broker.queues()
        # Then the two that received messages are there, and the list is sorted
        assert {queue_name, other_queue} <= set(names)
        assert third_queue not in names
        assert names == sorted(names)

    def test_queues_are_remembered_after_they_empty(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A queue stays listed once it received a message, even when purged."""
        # Given a queue that received a message, then was purged
        broker.send(make_message())
        broker.purge(queue_name)
        # When the queues are listed
        names = broker.queues()
        # Then it is still there
        assert queue_name in names

    def test_purge_deletes_ready_and_scheduled_messages(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """``purge`` empties READY and SCHEDULED and says how many it deleted."""
        # Given two ready and one scheduled message
        broker.send_batch([make_message(), make_message()])
        broker.schedule(make_message(), eta=clock.now() + 60.0)
        # When the queue is purged
        purged = broker.purge(queue_name)
        # Then all three are gone, even once the ETA has passed
        assert purged == 3
        clock.advance(60.0)
        assert broker.reserve([queue_name], worker_id=WORKER, lease=LEASE) == []
        assert broker.counts(queue_name) == QueueCounts(queue=queue_name)

    def test_purge_leaves_processing_and_dead_alone(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Running work belongs to its worker and DEAD to the operator: purge keeps both."""
        # Given one processing, one dead and one ready message
        broker.send_batch([make_message(), make_message(), make_message()])
        broker.dead(reserve_one(broker, queue_name), reason="test")
        running = reserve_one(broker, queue_name)
        # When the queue is purged
        purged = broker.purge(queue_name)
        # Then only the ready one went; the running one can still be acked
        assert purged == 1
        counts = broker.counts(queue_name)
        assert (counts.processing, counts.dead) == (1, 1)
        assert broker.ack(running) is True

    def test_purge_of_an_empty_queue_returns_zero(
        self, broker: BaseBroker, queue_name: str
    ) -> None:
        """Purging nothing is not an error."""
        # Given an unused queue, when it is purged, then nothing was deleted
        assert broker.purge(queue_name) == 0
        assert broker.purge_dead(queue_name) == 0

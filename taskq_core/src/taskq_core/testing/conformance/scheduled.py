"""SCHEDULED: messages wait in the broker until their ETA, then join READY."""

from __future__ import annotations

from typing import TYPE_CHECKING

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


class ScheduleTests(ConformanceBase):
    """A scheduled message is invisible before its ETA and ready from it on."""

    def test_scheduled_message_is_invisible_before_its_eta(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Neither reserve nor poll_schedule releases a message early."""
        # Given a message scheduled a minute ahead, and 59 s passing
        assert broker.schedule(make_message(), eta=clock.now() + 60.0) is True
        clock.advance(59.0)
        # When a worker polls and reserves
        moved = broker.poll_schedule(queue_name)
        batch = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE)
        # Then nothing is handed out and the message is still scheduled
        assert (moved, batch) == (0, [])
        assert broker.counts(queue_name).scheduled == 1

    def test_reserve_hands_out_a_message_at_its_eta(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Reserve promotes due messages itself; no separate poll is needed."""
        # Given a message scheduled a minute ahead
        message = make_message()
        broker.schedule(message, eta=clock.now() + 60.0)
        # When exactly a minute passes and a worker reserves
        clock.advance(60.0)
        delivery = reserve_one(broker, queue_name)
        # Then it gets the message, as a first delivery
        assert delivery.message == message
        assert delivery.token == 1

    def test_poll_schedule_moves_due_messages_to_ready(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """The backstop poll moves due messages to READY and says how many."""
        # Given one due and one future message
        broker.schedule(make_message(), eta=clock.now() + 10.0)
        broker.schedule(make_message(), eta=clock.now() + 100.0)
        clock.advance(10.0)
        # When the schedule is polled
        moved = broker.poll_schedule(queue_name)
        # Then one moved and one still waits
        assert moved == 1
        counts = broker.counts(queue_name)
        assert (counts.ready, counts.scheduled) == (1, 1)

    def test_poll_schedule_limit_moves_the_earliest_first(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """With ``limit``, the earliest ETAs are promoted and the later ones wait."""
        # Given three due messages scheduled out of ETA order
        late, early, middle = make_message(), make_message(), make_message()
        now = clock.now()
        broker.schedule(late, eta=now + 3.0)
        broker.schedule(early, eta=now + 1.0)
        broker.schedule(middle, eta=now + 2.0)
        clock.advance(10.0)
        # When two are polled
        moved = broker.poll_schedule(queue_name, limit=2)
        # Then two are ready and one still scheduled
        assert moved == 2
        counts = broker.counts(queue_name)
        assert (counts.ready, counts.scheduled) == (2, 1)
        # And the two ready were the earliest: the latest joins behind them when reserve promotes it
        batch = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE, limit=10)
        assert reserved_ids(batch) == [early.id, middle.id, late.id]

    def test_due_messages_are_reserved_in_eta_order(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Messages that fell due together come out earliest ETA first, not in schedule order."""
        # Given three messages scheduled out of ETA order, all due now
        late, early, middle = make_message(), make_message(), make_message()
        now = clock.now()
        broker.schedule(late, eta=now + 30.0)
        broker.schedule(early, eta=now + 10.0)
        broker.schedule(middle, eta=now + 20.0)
        clock.advance(30.0)
        # When they are reserved
        batch = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE, limit=3)
        # Then the order is by ETA
        assert reserved_ids(batch) == [early.id, middle.id, late.id]

    def test_eta_in_the_past_means_ready_now(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Scheduling for a time already gone makes the message reservable at once."""
        # Given a message scheduled an hour ago
        message = make_message()
        broker.schedule(message, eta=clock.now() - 3600.0)
        # When a worker reserves without moving the clock
        delivery = reserve_one(broker, queue_name)
        # Then it gets the message
        assert delivery.id == message.id

    def test_schedule_is_idempotent_by_id(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Scheduling a known id again is refused and keeps the first ETA."""
        # Given a message scheduled ten seconds ahead
        message = make_message()
        assert broker.schedule(message, eta=clock.now() + 10.0) is True
        # When it is scheduled again, later
        again = broker.schedule(message, eta=clock.now() + 1000.0)
        # Then the second call is refused and the first ETA stands
        assert again is False
        clock.advance(10.0)
        assert reserve_one(broker, queue_name).id == message.id

    def test_schedule_refuses_an_id_already_ready(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A ready id cannot be scheduled a second time (idempotency spans states)."""
        # Given a sent message
        message = make_message()
        broker.send(message)
        # When it is also scheduled
        accepted = broker.schedule(message, eta=clock.now() + 10.0)
        # Then that is refused and it stays ready only
        assert accepted is False
        counts = broker.counts(queue_name)
        assert (counts.ready, counts.scheduled) == (1, 0)

    def test_reserve_promotes_due_messages_of_every_listed_queue(
        self,
        broker: BaseBroker,
        clock: FakeClock,
        make_message: MessageFactory,
        queue_name: str,
        other_queue: str,
    ) -> None:
        """A due message in the first queue beats a ready message in the second."""
        # Given a due scheduled message in the first queue and a ready one in the second
        due = make_message(queue=queue_name)
        broker.schedule(due, eta=clock.now() + 5.0)
        broker.send(make_message(queue=other_queue))
        clock.advance(5.0)
        # When a worker reserves from [first, second]
        batch = broker.reserve([queue_name, other_queue], worker_id=WORKER, lease=LEASE)
        # Then it gets the first queue's message
        assert reserved_ids(batch) == [due.id]

    def test_promoted_message_keeps_its_priority(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A due high-priority message goes ahead of low-priority messages already waiting."""
        # Given a ready priority-0 message and a due priority-9 one
        low = make_message(priority=0)
        high = make_message(priority=9)
        broker.send(low)
        broker.schedule(high, eta=clock.now() + 5.0)
        clock.advance(5.0)
        # When both are reserved
        batch = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE, limit=2)
        # Then the high one comes first
        assert reserved_ids(batch) == [high.id, low.id]

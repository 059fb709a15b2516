"""Release: a stopping worker gives back prefetched work without it counting against anyone."""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskq_core.testing.conformance.base import (
    LEASE,
    OTHER_WORKER,
    WORKER,
    ConformanceBase,
    lose_lease,
    reserve_one,
    reserved_ids,
)

if TYPE_CHECKING:
    from taskq_core.broker import BaseBroker
    from taskq_core.clock import FakeClock
    from taskq_core.testing.plugin import MessageFactory


class ReleaseTests(ConformanceBase):
    """Released deliveries go to the front of READY, uncounted, and their handles go stale."""

    def test_released_message_goes_to_the_front_of_ready(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Work given back at shutdown is next in line, ahead of messages sent after it."""
        # Given a reserved message and a newer one waiting
        old, new = make_message(), make_message()
        broker.send(old)
        delivery = reserve_one(broker, queue_name)
        broker.send(new)
        # When the worker releases its delivery
        released = broker.release([delivery])
        # Then it is handed out before the newer message
        assert released == 1
        batch = broker.reserve([queue_name], worker_id=OTHER_WORKER, lease=LEASE, limit=2)
        assert reserved_ids(batch) == [old.id, new.id]

    def test_release_keeps_the_order_of_the_batch(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A released prefetch batch comes back in its original order, ahead of the rest."""
        # Given three prefetched messages and a fourth waiting
        messages = [make_message() for _ in range(4)]
        broker.send_batch(messages)
        prefetched = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE, limit=3)
        # When the batch is released
        assert broker.release(prefetched) == 3
        # Then the order is unchanged
        batch = broker.reserve([queue_name], worker_id=OTHER_WORKER, lease=LEASE, limit=4)
        assert reserved_ids(batch) == [m.id for m in messages]

    def test_released_message_stays_in_its_priority_level(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """The front of READY is the front of the message's own priority, not above higher ones."""
        # Given a reserved priority-0 message and a priority-9 one sent later
        low, high = make_message(priority=0), make_message(priority=9)
        broker.send(low)
        delivery = reserve_one(broker, queue_name)
        broker.send(high)
        # When the low one is released
        broker.release([delivery])
        # Then the high one still comes first
        batch = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE, limit=2)
        assert reserved_ids(batch) == [high.id, low.id]

    def test_a_delivery_listed_twice_is_released_once(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Releasing the same handle twice in one call cannot put the message in READY twice."""
        # Given one held message
        message = make_message()
        broker.send(message)
        delivery = reserve_one(broker, queue_name)
        # When its handle is released twice in one batch
        released = broker.release([delivery, delivery])
        # Then it was released once and is handed out once
        assert released == 1
        assert broker.counts(queue_name).ready == 1
        batch = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE, limit=5)
        assert reserved_ids(batch) == [message.id]

    def test_release_counts_no_retry(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A released message was never attempted: its retry count does not move."""
        # Given a released delivery
        broker.send(make_message())
        broker.release([reserve_one(broker, queue_name)])
        # When it is reserved again
        delivery = reserve_one(broker, queue_name)
        # Then no retry was counted
        assert delivery.retries == 0

    def test_release_counts_no_lost_lease(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Releases do not use up ``max_deliveries``, however often a worker restarts."""
        # Given a message allowed one lost lease, released three times
        message = make_message(max_deliveries=1)
        broker.send(message)
        for _ in range(3):
            assert broker.release([reserve_one(broker, queue_name)]) == 1
        # When it is reserved once more
        delivery = reserve_one(broker, queue_name)
        # Then it is still alive
        assert delivery.id == message.id
        assert broker.counts(queue_name).dead == 0

    def test_released_handle_is_fenced(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """After a release, the old handle cannot ack the message's next delivery."""
        # Given a released delivery, re-reserved by the same worker
        broker.send(make_message())
        released = reserve_one(broker, queue_name, worker_id=WORKER)
        broker.release([released])
        current = reserve_one(broker, queue_name, worker_id=WORKER)
        # When the released handle acks
        acked = broker.ack(released)
        # Then it is refused (the token moved on) and the current one still holds
        assert acked is False
        assert current.token > released.token
        assert broker.ack(current) is True

    def test_release_skips_deliveries_already_lost(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Only held deliveries are released; the count says how many."""
        # Given two held messages, one of which the reaper already took back
        broker.send_batch([make_message(), make_message()])
        lost, kept = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE, limit=2)
        broker.extend_lease([kept], lease=LEASE * 3)
        lose_lease(broker, clock, lost)
        # When both are released
        released = broker.release([lost, kept])
        # Then one was released, and both are ready exactly once
        assert released == 1
        counts = broker.counts(queue_name)
        assert (counts.ready, counts.processing) == (2, 0)

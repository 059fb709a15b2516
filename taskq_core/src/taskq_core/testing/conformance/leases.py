"""PROCESSING: leases, their renewal, and what the reaper does when one runs out."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

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


class LeaseTests(ConformanceBase):
    """A lease keeps a message with one worker until it runs out; then the reaper takes it back."""

    def test_lease_deadline_is_now_plus_lease(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """The delivery says when its lease ends: the broker's now plus the lease asked for."""
        # Given a ready message
        broker.send(make_message())
        # When it is reserved with a 45 s lease
        delivery = reserve_one(broker, queue_name, lease=45.0)
        # Then the deadline is 45 s after the clock's now
        assert delivery.lease_deadline == pytest.approx(clock.now() + 45.0, abs=1e-3)

    def test_broker_now_follows_the_injected_clock(
        self, broker: BaseBroker, clock: FakeClock
    ) -> None:
        """``now()`` is the injected clock's time, so tests can move the broker's time."""
        # Given the broker's time, when the clock advances an hour
        before = broker.now()
        clock.advance(3600.0)
        # Then the broker sees exactly that
        assert before == pytest.approx(clock.now() - 3600.0, abs=1e-3)
        assert broker.now() == pytest.approx(clock.now(), abs=1e-3)

    def test_held_message_is_not_reserved_again_while_the_lease_holds(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Until its lease ends, a reserved message is given to nobody else."""
        # Given a message reserved by one worker
        broker.send(make_message())
        reserve_one(broker, queue_name, worker_id=WORKER)
        # When another worker reserves just before the lease ends (after a reaper pass)
        clock.advance(LEASE - 1.0)
        broker.recover_expired(queue_name)
        batch = broker.reserve([queue_name], worker_id=OTHER_WORKER, lease=LEASE)
        # Then it gets nothing
        assert batch == []

    def test_reaper_leaves_live_leases_alone(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """``recover_expired`` does not touch a lease that has not run out."""
        # Given a message whose lease has one second left
        broker.send(make_message())
        reserve_one(broker, queue_name)
        clock.advance(LEASE - 1.0)
        # When the reaper runs
        report = broker.recover_expired(queue_name)
        # Then it reports nothing and the message is still processing
        assert not report
        assert broker.counts(queue_name).processing == 1

    def test_expired_lease_goes_back_to_ready(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Once its lease ends, the reaper moves a message from PROCESSING back to READY."""
        # Given a message whose lease ran out
        message = make_message()
        broker.send(message)
        reserve_one(broker, queue_name)
        clock.advance(LEASE + 1.0)
        # When the reaper runs
        report = broker.recover_expired(queue_name)
        # Then it reports the id as requeued and the counts agree
        assert report.requeued == (message.id,)
        assert report.dead == ()
        counts = broker.counts(queue_name)
        assert (counts.ready, counts.processing) == (1, 0)

    def test_recovered_message_is_redelivered_with_the_next_token(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A redelivery carries token 2 and ``redelivered``; a lost lease is not a retry."""
        # Given a message whose first lease was lost
        broker.send(make_message())
        first = reserve_one(broker, queue_name, worker_id=WORKER)
        lose_lease(broker, clock, first)
        # When another worker reserves it
        second = reserve_one(broker, queue_name, worker_id=OTHER_WORKER)
        # Then it is the same message, marked as redelivered, with a higher token
        assert second.id == first.id
        assert (second.token, second.redelivered, second.retries) == (2, True, 0)

    def test_recovered_message_goes_to_the_front_of_ready(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Recovered work is not punished by waiting behind messages sent after it."""
        # Given a message whose lease expires after a newer message arrived
        old, new = make_message(), make_message()
        broker.send(old)
        delivery = reserve_one(broker, queue_name)
        broker.send(new)
        # When the reaper hands it back
        lose_lease(broker, clock, delivery)
        # Then it is reserved before the newer message
        batch = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE, limit=2)
        assert reserved_ids(batch) == [old.id, new.id]

    def test_recovered_messages_keep_their_expiry_order_at_the_front(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Several recovered at once come back earliest-expired first, all ahead of new work."""
        # Given two messages reserved a second apart, then a newer one waiting
        first, second, new = make_message(), make_message(), make_message()
        for message in (first, second):
            broker.send(message)
            reserve_one(broker, queue_name)
            clock.advance(1.0)
        broker.send(new)
        # When both leases expire and one reaper pass recovers them
        clock.advance(LEASE)
        assert len(broker.recover_expired(queue_name).requeued) == 2
        # Then the order is: earliest expired, next expired, then the newer message
        batch = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE, limit=3)
        assert reserved_ids(batch) == [first.id, second.id, new.id]

    def test_reaper_takes_the_earliest_expired_first_and_respects_limit(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """With ``limit``, the leases that ran out first are recovered first; the rest wait."""
        # Given three messages reserved a second apart, all expired
        messages = [make_message() for _ in range(3)]
        for message in messages:
            broker.send(message)
            reserve_one(broker, queue_name)
            clock.advance(1.0)
        clock.advance(LEASE)
        # When the reaper runs with limit 2, then again
        first = broker.recover_expired(queue_name, limit=2)
        second = broker.recover_expired(queue_name, limit=2)
        # Then the two oldest leases come back first, then the last
        assert first.requeued == (messages[0].id, messages[1].id)
        assert second.requeued == (messages[2].id,)

    def test_reaper_only_touches_its_queue(
        self,
        broker: BaseBroker,
        clock: FakeClock,
        make_message: MessageFactory,
        queue_name: str,
        other_queue: str,
    ) -> None:
        """``recover_expired(queue)`` recovers that queue's leases and no other's."""
        # Given an expired lease in another queue
        broker.send(make_message(queue=other_queue))
        reserve_one(broker, other_queue)
        clock.advance(LEASE + 1.0)
        # When the reaper runs on this queue
        report = broker.recover_expired(queue_name)
        # Then the other queue's message is still processing
        assert not report
        assert broker.counts(other_queue).processing == 1

    def test_extend_lease_pushes_the_deadline(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A renewed lease runs ``lease`` seconds from the renewal, so the reaper leaves it."""
        # Given a message reserved 20 s ago with a 30 s lease
        broker.send(make_message())
        delivery = reserve_one(broker, queue_name, lease=30.0)
        clock.advance(20.0)
        # When the worker extends it by 30 s and 20 more seconds pass
        assert broker.extend_lease([delivery], lease=30.0) == [True]
        clock.advance(20.0)
        # Then the original deadline is gone but the message is still held
        assert not broker.recover_expired(queue_name)
        assert broker.counts(queue_name).processing == 1
        # And the new deadline is enforced
        clock.advance(11.0)
        assert broker.recover_expired(queue_name).requeued == (delivery.id,)

    def test_extend_lease_with_zero_expires_the_lease_now(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """``lease=0`` sets the deadline to now, and a deadline at now has expired.

        A worker that knows a task's process died uses it to skip waiting out the lease.
        """
        # Given a message held under a long lease
        message = make_message()
        broker.send(message)
        delivery = reserve_one(broker, queue_name, lease=LEASE)
        # When the holder extends it by zero, without the clock moving
        assert broker.extend_lease([delivery], lease=0.0) == [True]
        # Then the very next reaper pass recovers it
        assert broker.recover_expired(queue_name).requeued == (message.id,)

    def test_extend_lease_reports_lost_leases_as_false(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """One batched renewal says, per delivery, whether the lease is still held."""
        # Given two held messages, one of which has been recovered by the reaper
        broker.send_batch([make_message(), make_message()])
        lost, kept = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE, limit=2)
        assert broker.extend_lease([kept], lease=LEASE * 2) == [True]
        clock.advance(LEASE + 1.0)
        assert broker.recover_expired(queue_name).requeued == (lost.id,)
        # When the worker renews both
        results = broker.extend_lease([lost, kept], lease=LEASE)
        # Then the lost one is reported and the kept one renewed
        assert results == [False, True]

    def test_lost_leases_below_max_deliveries_keep_coming_back(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A message survives ``max_deliveries - 1`` lost leases, each time back in READY."""
        # Given a message allowed three lost leases
        message = make_message(max_deliveries=3)
        broker.send(message)
        # When it loses its lease twice
        for _ in range(2):
            lose_lease(broker, clock, reserve_one(broker, queue_name))
        # Then it is still ready, and its third delivery has token 3
        assert broker.counts(queue_name).dead == 0
        assert reserve_one(broker, queue_name).token == 3

    def test_max_deliveries_lost_leases_send_the_message_to_dead(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A task that kills its worker every time ends in DEAD, the reason naming the count."""
        # Given a message allowed three lost leases that has lost two
        message = make_message(max_deliveries=3)
        broker.send(message)
        for _ in range(2):
            lose_lease(broker, clock, reserve_one(broker, queue_name))
        # When it loses a third
        reserve_one(broker, queue_name)
        clock.advance(LEASE + 1.0)
        report = broker.recover_expired(queue_name)
        # Then the reaper buries it, with a reason that says how many leases were lost
        assert report.dead == (message.id,)
        assert report.requeued == ()
        (letter,) = broker.list_dead(queue_name)
        assert letter.id == message.id
        assert "3" in letter.reason
        assert letter.message == message
        assert letter.deliveries == 3
        assert broker.counts(queue_name).processing == 0

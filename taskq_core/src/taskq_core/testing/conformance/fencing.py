"""Ack and fencing: only the current holder of a lease can finish, retry, bury or renew it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from taskq_core.testing.conformance.base import (
    LEASE,
    OTHER_WORKER,
    WORKER,
    ConformanceBase,
    lose_lease,
    reserve_one,
)

if TYPE_CHECKING:
    from taskq_core.broker import BaseBroker
    from taskq_core.clock import FakeClock
    from taskq_core.schemas import Delivery
    from taskq_core.testing.plugin import MessageFactory

#: Every fenced operation, as "did it act?" for one delivery.
FENCED_OPERATIONS: dict[str, Callable[[BaseBroker, Delivery], bool]] = {
    "ack": lambda broker, delivery: broker.ack(delivery),
    "retry": lambda broker, delivery: broker.retry(delivery, delay=0.0, error="boom"),
    "dead": lambda broker, delivery: broker.dead(delivery, reason="test"),
    "postpone": lambda broker, delivery: broker.postpone(delivery, delay=0.0),
    "extend_lease": lambda broker, delivery: broker.extend_lease([delivery], lease=LEASE)[0],
    "release": lambda broker, delivery: broker.release([delivery]) == 1,
}

fenced_operation = pytest.mark.parametrize("operation", sorted(FENCED_OPERATIONS))


def _lease_lost(broker: BaseBroker, clock: FakeClock, queue: str) -> tuple[Delivery, Delivery]:
    stale = reserve_one(broker, queue, worker_id=WORKER)
    lose_lease(broker, clock, stale)
    return stale, reserve_one(broker, queue, worker_id=WORKER)


def _requeued_after_death(
    broker: BaseBroker, clock: FakeClock, queue: str
) -> tuple[Delivery, Delivery]:
    stale = reserve_one(broker, queue, worker_id=WORKER)
    assert broker.dead(stale, reason="test") is True
    assert broker.requeue_dead(queue) == 1
    return stale, reserve_one(broker, queue, worker_id=WORKER)


#: Ways a handle goes stale: ``(stale, current)`` for the one message in ``queue``.
STALE_HANDLES: dict[str, Callable[[BaseBroker, FakeClock, str], tuple[Delivery, Delivery]]] = {
    "lease_lost": _lease_lost,
    "requeued_after_death": _requeued_after_death,
}


class AckAndFencingTests(ConformanceBase):
    """Ack removes a message; a stale or foreign handle changes nothing and returns False."""

    def test_ack_removes_the_message(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """An acked message leaves the broker: no state holds it, nothing can reserve it."""
        # Given a reserved message
        broker.send(make_message())
        delivery = reserve_one(broker, queue_name)
        # When the worker acks it
        assert broker.ack(delivery) is True
        # Then the queue is empty in every state
        counts = broker.counts(queue_name)
        assert (counts.ready, counts.scheduled, counts.processing, counts.dead) == (0, 0, 0, 0)
        assert broker.reserve([queue_name], worker_id=WORKER, lease=LEASE) == []

    def test_ack_after_the_deadline_but_before_recovery_succeeds(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A lease is lost when the reaper takes the message back, not at the deadline itself."""
        # Given a message whose lease ran out but which nobody recovered yet
        broker.send(make_message())
        delivery = reserve_one(broker, queue_name)
        clock.advance(LEASE + 1.0)
        # When the worker acks it
        acked = broker.ack(delivery)
        # Then the ack counts (the message was never handed to anyone else), and it is gone
        assert acked is True
        assert not broker.recover_expired(queue_name)
        assert broker.counts(queue_name).processing == 0

    def test_repeated_ack_counts_as_acked(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """An ack repeated by the delivery that acked (a retry after a lost reply) answers True.

        The worker must learn that its task was acked (keep the result, fire
        ``taskq_task_succeeded``) even when the reply to its first ack never arrived.
        """
        # Given an acked delivery
        broker.send(make_message())
        delivery = reserve_one(broker, queue_name)
        assert broker.ack(delivery) is True
        # When the same delivery acks again, alone and in a batch
        again = broker.ack(delivery)
        in_batch = broker.ack_many([delivery])
        # Then both count as acked, and nothing came back
        assert again is True
        assert in_batch == [True]
        assert not broker.recover_expired(queue_name)
        counts = broker.counts(queue_name)
        assert (counts.ready, counts.scheduled, counts.processing, counts.dead) == (0, 0, 0, 0)

    def test_repeated_ack_of_a_lost_lease_is_refused(
        self,
        broker: BaseBroker,
        clock: FakeClock,
        make_message: MessageFactory,
        queue_name: str,
    ) -> None:
        """A zombie's ack stays refused after the redelivery it lost to was acked."""
        # Given a delivery whose lease ran out, and its redelivery acked by another worker
        broker.send(make_message())
        zombie = reserve_one(broker, queue_name, worker_id="zombie")
        clock.advance(LEASE + 1)
        assert broker.recover_expired(queue_name).requeued
        rescuer = reserve_one(broker, queue_name, worker_id="rescuer")
        assert broker.ack(rescuer) is True
        # When the zombie acks, alone and in a batch
        late = broker.ack(zombie)
        late_batch = broker.ack_many([zombie])
        # Then it is told its lease was lost
        assert late is False
        assert late_batch == [False]

    @fenced_operation
    def test_finished_delivery_is_fenced(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str, operation: str
    ) -> None:
        """After an ack, no operation on the same handle resurrects the message.

        Each is refused, except a repeated ack, which answers True (see
        ``test_repeated_ack_counts_as_acked``) and changes nothing either.
        """
        # Given an acked delivery
        broker.send(make_message())
        delivery = reserve_one(broker, queue_name)
        broker.ack(delivery)
        # When the operation is tried on it
        acted = FENCED_OPERATIONS[operation](broker, delivery)
        # Then it is refused (a repeated ack reports the ack) and the queue stays empty
        assert acted is (operation == "ack")
        counts = broker.counts(queue_name)
        assert (counts.ready, counts.scheduled, counts.processing, counts.dead) == (0, 0, 0, 0)

    @fenced_operation
    @pytest.mark.parametrize("staleness", sorted(STALE_HANDLES))
    def test_stale_token_is_fenced(
        self,
        broker: BaseBroker,
        clock: FakeClock,
        make_message: MessageFactory,
        queue_name: str,
        operation: str,
        staleness: str,
    ) -> None:
        """A handle from an earlier delivery cannot touch the current one, even the same worker's.

        The delivery count only grows (a requeue from DEAD does not reset it), so the current
        delivery's token was never handed out before.
        """
        # Given a message whose earlier delivery went stale, now re-reserved by the same worker
        broker.send(make_message())
        stale, current = STALE_HANDLES[staleness](broker, clock, queue_name)
        assert current.token > stale.token
        before = broker.counts(queue_name)
        # When the stale handle is used
        acted = FENCED_OPERATIONS[operation](broker, stale)
        # Then it is refused, nothing moved, and the current holder is unaffected
        assert acted is False
        assert broker.counts(queue_name) == before
        assert broker.ack(current) is True

    @fenced_operation
    def test_foreign_worker_is_fenced(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str, operation: str
    ) -> None:
        """A handle naming another worker, even with the right token, is refused."""
        # Given a message held by one worker, and a forged handle naming another
        broker.send(make_message())
        held = reserve_one(broker, queue_name, worker_id=WORKER)
        forged = held.model_copy(update={"worker_id": OTHER_WORKER})
        before = broker.counts(queue_name)
        # When the forged handle is used
        acted = FENCED_OPERATIONS[operation](broker, forged)
        # Then it is refused, nothing moved, and the real holder still owns the lease
        assert acted is False
        assert broker.counts(queue_name) == before
        assert broker.extend_lease([held], lease=LEASE) == [True]

    def test_fenced_retry_does_not_count_a_retry(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A refused retry leaves the retry counter alone."""
        # Given a message lost by one worker and now held by another
        broker.send(make_message())
        stale = reserve_one(broker, queue_name, worker_id=WORKER)
        lose_lease(broker, clock, stale)
        current = reserve_one(broker, queue_name, worker_id=OTHER_WORKER)
        # When the stale worker tries to retry it, and the holder then retries it properly
        assert broker.retry(stale, delay=0.0, error="stale") is False
        assert broker.retry(current, delay=0.0, error="real") is True
        # Then exactly one retry was counted
        assert reserve_one(broker, queue_name).retries == 1

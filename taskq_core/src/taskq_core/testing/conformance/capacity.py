"""Per-queue in-flight caps: PROCESSING of a capped queue never grows past its cap."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, ClassVar

import pytest

from taskq_core.capabilities import QueueControl
from taskq_core.testing.conformance.base import (
    LEASE,
    OTHER_WORKER,
    WORKER,
    BlockedReserve,
    ConformanceBase,
    reserve_one,
    reserved_ids,
)

if TYPE_CHECKING:
    from taskq_core.clock import FakeClock
    from taskq_core.schemas import Delivery
    from taskq_core.testing.conformance.base import Broker, Requires
    from taskq_core.testing.plugin import MessageFactory

#: ``cap(queue, max_in_flight)``: the ``set_queue_limit`` of the ``cap`` fixture.
QueueCapper = Callable[[str, "int | None"], None]

#: Ways a held message leaves PROCESSING; each must make room under the cap and wake a reserve.
LEAVES_PROCESSING: dict[str, Callable[[Broker, FakeClock, Delivery], object]] = {
    "ack": lambda broker, clock, held: broker.ack(held),
    "dead": lambda broker, clock, held: broker.dead(held, reason="test"),
    "retry": lambda broker, clock, held: broker.retry(held, delay=60.0),
    "postpone": lambda broker, clock, held: broker.postpone(held, delay=60.0),
    "release": lambda broker, clock, held: broker.release([held]),
    "recover_expired": lambda broker, clock, held: (
        clock.advance(LEASE + 1.0),
        broker.recover_expired(held.queue),
    ),
}


class QueueLimitTests(ConformanceBase):
    """``set_queue_limit`` caps PROCESSING of one queue across every worker."""

    requires: ClassVar[Requires] = (QueueControl,)

    @pytest.fixture
    def cap(self, broker: Broker) -> Iterator[QueueCapper]:
        """``set_queue_limit`` that removes, after the test, every cap the test set."""
        capped: list[str] = []

        def set_cap(queue: str, max_in_flight: int | None) -> None:
            capped.append(queue)
            broker.set_queue_limit(queue, max_in_flight=max_in_flight)

        yield set_cap
        for queue in dict.fromkeys(capped):
            broker.set_queue_limit(queue, max_in_flight=None)

    def test_reserve_fills_only_the_room_left_under_the_cap(
        self,
        broker: Broker,
        make_message: MessageFactory,
        queue_name: str,
        cap: QueueCapper,
    ) -> None:
        """With a cap of 2 and one message in flight elsewhere, a batch of 5 gets one message."""
        # Given a queue capped at 2, one message held by another worker, and five more ready
        cap(queue_name, 2)
        broker.send_batch([make_message() for _ in range(6)])
        reserve_one(broker, queue_name, worker_id=OTHER_WORKER)
        # When a worker asks for five
        batch = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE, limit=5)
        # Then it gets one, and the queue then hands out nothing more
        assert len(batch) == 1
        assert broker.reserve([queue_name], worker_id=WORKER, lease=LEASE, limit=5) == []
        counts = broker.counts(queue_name)
        assert (counts.processing, counts.ready) == (2, 4)

    @pytest.mark.parametrize("leave", sorted(LEAVES_PROCESSING))
    def test_message_leaving_processing_wakes_a_reserve_blocked_by_the_cap(
        self,
        broker: Broker,
        clock: FakeClock,
        make_message: MessageFactory,
        queue_name: str,
        cap: QueueCapper,
        leave: str,
    ) -> None:
        """A worker waiting on a full capped queue gets work as soon as room is made."""
        # Given a queue capped at 1 with its one message in flight and another ready
        cap(queue_name, 1)
        held_message, waiting = make_message(), make_message()
        broker.send(held_message)
        held = reserve_one(broker, queue_name, worker_id=OTHER_WORKER)
        broker.send(waiting)
        # And a worker blocked on the queue
        blocked = BlockedReserve(broker, [queue_name])
        # When the held message leaves PROCESSING
        LEAVES_PROCESSING[leave](broker, clock, held)
        # Then the blocked worker wakes up with the next message, and the cap still holds
        assert len(blocked.outcome()) == 1
        assert broker.counts(queue_name).processing == 1

    def test_none_removes_the_cap(
        self,
        broker: Broker,
        make_message: MessageFactory,
        queue_name: str,
        cap: QueueCapper,
    ) -> None:
        """After the cap is removed, a batch is limited only by what is ready."""
        # Given a full queue capped at 1, with three more messages ready
        cap(queue_name, 1)
        broker.send_batch([make_message() for _ in range(4)])
        reserve_one(broker, queue_name)
        # When the cap is removed
        cap(queue_name, None)
        # Then a batch takes every ready message
        assert len(broker.reserve([queue_name], worker_id=WORKER, lease=LEASE, limit=10)) == 3

    def test_a_full_capped_queue_lets_reserve_move_on_to_the_next_queue(
        self,
        broker: Broker,
        make_message: MessageFactory,
        queue_name: str,
        other_queue: str,
        cap: QueueCapper,
    ) -> None:
        """A capped queue with no room counts as having nothing, so it starves no other queue."""
        # Given a full capped queue that still has ready work, listed before another queue
        cap(queue_name, 1)
        broker.send_batch([make_message(), make_message()])
        reserve_one(broker, queue_name)
        other = make_message(queue=other_queue)
        broker.send(other)
        # When a worker reserves from both
        batch = broker.reserve([queue_name, other_queue], worker_id=WORKER, lease=LEASE)
        # Then it gets the other queue's message
        assert reserved_ids(batch) == [other.id]

    def test_lowering_the_cap_leaves_messages_in_flight_alone(
        self,
        broker: Broker,
        make_message: MessageFactory,
        queue_name: str,
        cap: QueueCapper,
    ) -> None:
        """Messages above a lowered cap keep running; new ones wait until below it."""
        # Given three messages in flight and one ready, when the cap is lowered to 2
        broker.send_batch([make_message() for _ in range(4)])
        held = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE, limit=3)
        cap(queue_name, 2)
        # Then all three stay held and nothing is handed out
        assert broker.extend_lease(held, lease=LEASE) == [True, True, True]
        assert broker.reserve([queue_name], worker_id=WORKER, lease=LEASE) == []
        # And after one ack (two in flight, at the cap) still nothing; after another, one
        broker.ack(held[0])
        assert broker.reserve([queue_name], worker_id=WORKER, lease=LEASE) == []
        broker.ack(held[1])
        assert len(broker.reserve([queue_name], worker_id=WORKER, lease=LEASE)) == 1

"""Blocking reserve: an idle worker waits for work without polling and wakes when it comes."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from taskq_core.testing.conformance.base import (
    LEASE,
    WORKER,
    BlockedReserve,
    ConformanceBase,
    reserve_one,
    reserved_ids,
)

if TYPE_CHECKING:
    from taskq_core.broker import BaseBroker
    from taskq_core.clock import FakeClock
    from taskq_core.schemas import Delivery
    from taskq_core.testing.plugin import MessageFactory

#: Ways a held message returns to READY; each must wake a reserve blocked on its queue.
RETURNS_TO_READY: dict[str, Callable[[BaseBroker, FakeClock, Delivery], object]] = {
    "retry": lambda broker, clock, held: broker.retry(held, delay=0.0),
    "release": lambda broker, clock, held: broker.release([held]),
    "postpone": lambda broker, clock, held: broker.postpone(held, delay=0.0),
    "recover_expired": lambda broker, clock, held: (
        clock.advance(LEASE + 1.0),
        broker.recover_expired(held.queue),
    ),
    "requeue_dead": lambda broker, clock, held: (
        broker.dead(held, reason="test"),
        broker.requeue_dead(held.queue),
    ),
}


class BlockingTests(ConformanceBase):
    """``reserve(timeout=...)`` waits for work and is woken by anything that makes work ready."""

    def test_reserve_with_timeout_returns_empty_when_nothing_arrives(
        self, broker: BaseBroker, queue_name: str
    ) -> None:
        """A short blocking reserve on an empty queue gives up and returns ``[]``."""
        # Given an empty queue, when a worker waits briefly for work
        batch = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE, timeout=0.05)
        # Then it returns empty-handed
        assert batch == []

    def test_blocked_reserve_is_woken_by_a_send(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A reserve waiting for work returns a message another thread sends, before its timeout."""
        # Given a worker thread blocked in reserve with a long timeout
        blocked = BlockedReserve(broker, [queue_name])
        # When another thread sends a message
        message = make_message()
        broker.send(message)
        # Then the blocked reserve returns it well before its own timeout
        assert reserved_ids(blocked.outcome()) == [message.id]

    def test_blocked_reserve_on_several_queues_is_woken_by_any(
        self,
        broker: BaseBroker,
        make_message: MessageFactory,
        queue_name: str,
        other_queue: str,
    ) -> None:
        """A worker blocked on several queues wakes for a send to the last of them."""
        # Given a worker blocked on two queues
        blocked = BlockedReserve(broker, [queue_name, other_queue])
        # When a message is sent to the second
        message = make_message(queue=other_queue)
        broker.send(message)
        # Then the worker gets it
        assert reserved_ids(blocked.outcome()) == [message.id]

    @pytest.mark.parametrize("change", sorted(RETURNS_TO_READY))
    def test_blocked_reserve_is_woken_when_work_returns_to_ready(
        self,
        broker: BaseBroker,
        clock: FakeClock,
        make_message: MessageFactory,
        queue_name: str,
        change: str,
    ) -> None:
        """Retry, release, postpone, recovery and requeue each wake a worker waiting there."""
        # Given a message held by one worker and another worker blocked on the empty queue
        message = make_message()
        broker.send(message)
        held = reserve_one(broker, queue_name)
        blocked = BlockedReserve(broker, [queue_name])
        # When the held message returns to READY
        RETURNS_TO_READY[change](broker, clock, held)
        # Then the blocked worker wakes up with it
        assert reserved_ids(blocked.outcome()) == [message.id]

    def test_blocked_reserve_is_woken_by_poll_schedule(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A scheduled message promoted by the poller wakes a waiting worker."""
        # Given a scheduled message and a worker blocked on the queue
        message = make_message()
        broker.schedule(message, eta=clock.now() + 10.0)
        blocked = BlockedReserve(broker, [queue_name])
        # When its ETA passes and the schedule is polled (the count is not checked: a backend
        # whose blocked reserve wakes by itself may already have promoted the message)
        clock.advance(10.0)
        broker.poll_schedule(queue_name)
        # Then the worker gets it
        assert reserved_ids(blocked.outcome()) == [message.id]

    def test_interrupt_releases_a_blocked_reserve(
        self, broker: BaseBroker, queue_name: str
    ) -> None:
        """``interrupt`` makes a reserve blocked on an empty queue return promptly, empty."""
        # Given a worker thread blocked in reserve on an empty queue
        blocked = BlockedReserve(broker, [queue_name])
        # When the broker is interrupted, then the reserve returns empty-handed
        assert blocked.poke_until_returned(broker.interrupt) == []

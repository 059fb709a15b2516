"""Postpone: a message put back unrun (a rate limit said "not yet") uses up nothing.

Fencing of ``postpone`` is tested with every other fenced operation in ``fencing.py``; that it
counts no lost lease, next to ``retry``, in ``retry.py``; its wake-ups in ``blocking.py`` and
``capacity.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

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


class PostponeTests(ConformanceBase):
    """``postpone`` puts a held message back in READY or SCHEDULED and counts no failure."""

    @pytest.mark.parametrize("delay", [0.0, -5.0])
    def test_postpone_without_a_positive_delay_returns_to_ready(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str, delay: float
    ) -> None:
        """A delay at or below zero puts the message straight back in READY."""
        # Given a reserved message
        message = make_message()
        broker.send(message)
        delivery = reserve_one(broker, queue_name)
        # When the worker postpones it without a positive delay
        assert broker.postpone(delivery, delay=delay) is True
        # Then it is ready again and comes straight back
        counts = broker.counts(queue_name)
        assert (counts.ready, counts.scheduled, counts.processing) == (1, 0, 0)
        assert reserve_one(broker, queue_name).id == message.id

    def test_postpone_with_a_delay_waits_until_now_plus_delay(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """The message sits in SCHEDULED, away from workers, for exactly ``delay`` seconds."""
        # Given a message postponed by 10 s
        message = make_message()
        broker.send(message)
        assert broker.postpone(reserve_one(broker, queue_name), delay=10.0) is True
        # When 9 s pass, then it is scheduled and not reservable
        clock.advance(9.0)
        assert broker.counts(queue_name).scheduled == 1
        assert broker.reserve([queue_name], worker_id=WORKER, lease=LEASE) == []
        # When the 10th second passes, then a worker gets it
        clock.advance(1.0)
        assert reserve_one(broker, queue_name).id == message.id

    def test_postpone_counts_no_retry(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Waiting for a rate limit does not use up ``max_retries`` or hide the last error."""
        # Given a message retried once, then postponed three times
        broker.send(make_message())
        broker.retry(reserve_one(broker, queue_name), delay=0.0, error="ValueError: boom")
        for _ in range(3):
            broker.postpone(reserve_one(broker, queue_name), delay=0.0)
        # When it is reserved again
        delivery = reserve_one(broker, queue_name)
        # Then one retry is on record, with its error
        assert (delivery.retries, delivery.last_error) == (1, "ValueError: boom")

    def test_postponed_message_is_redelivered_with_a_new_token(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Each reservation is a new delivery, so the postponing handle cannot touch the next."""
        # Given a postponed message reserved again
        broker.send(make_message())
        postponed = reserve_one(broker, queue_name)
        broker.postpone(postponed, delay=0.0)
        current = reserve_one(broker, queue_name)
        # When the postponing handle is acked
        acked = broker.ack(postponed)
        # Then it is refused: the next delivery has a higher token and is still held
        assert acked is False
        assert current.token > postponed.token
        assert broker.ack(current) is True

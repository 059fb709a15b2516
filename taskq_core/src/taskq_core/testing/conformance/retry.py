"""Retry: a failed delivery goes back to READY, or waits out its backoff in SCHEDULED."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from taskq_core.testing.conformance.base import (
    LEASE,
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

#: Ways a worker hands a held message back after (or instead of) running it, without losing it.
PUT_BACKS: dict[str, Callable[[BaseBroker, Delivery], bool]] = {
    "retry": lambda broker, held: broker.retry(held, delay=0.0, error="boom"),
    "postpone": lambda broker, held: broker.postpone(held, delay=0.0),
}


class RetryTests(ConformanceBase):
    """Retries are counted apart from lost leases, and each one is a new, fenced delivery."""

    def test_retry_without_delay_returns_to_ready(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """``delay=0`` makes the message reservable again at once."""
        # Given a reserved message
        message = make_message()
        broker.send(message)
        delivery = reserve_one(broker, queue_name)
        # When the worker retries it without delay
        assert broker.retry(delivery, delay=0.0, error="boom") is True
        # Then it is ready again and comes straight back
        counts = broker.counts(queue_name)
        assert (counts.ready, counts.processing, counts.scheduled) == (1, 0, 0)
        assert reserve_one(broker, queue_name).id == message.id

    def test_retry_with_negative_delay_is_ready_now(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A delay at or below zero means no wait (a backoff computed into the past)."""
        # Given a reserved message, when it is retried with a negative delay
        broker.send(make_message())
        broker.retry(reserve_one(broker, queue_name), delay=-5.0)
        # Then it is ready, not scheduled
        counts = broker.counts(queue_name)
        assert (counts.ready, counts.scheduled) == (1, 0)

    def test_retry_with_delay_waits_in_scheduled(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A backoff keeps the message in SCHEDULED and away from workers until it passes."""
        # Given a reserved message retried with a 10 s delay
        broker.send(make_message())
        broker.retry(reserve_one(broker, queue_name), delay=10.0, error="boom")
        # When 9 s pass
        clock.advance(9.0)
        # Then it is scheduled and not reservable
        assert broker.counts(queue_name).scheduled == 1
        assert broker.reserve([queue_name], worker_id=WORKER, lease=LEASE) == []

    def test_retry_with_delay_is_reservable_after_the_delay(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Once the backoff has passed, the message is handed out again."""
        # Given a message retried with a 10 s delay
        message = make_message()
        broker.send(message)
        broker.retry(reserve_one(broker, queue_name), delay=10.0)
        # When 10 s pass
        clock.advance(10.0)
        # Then a worker gets it
        assert reserve_one(broker, queue_name).id == message.id

    def test_each_retry_is_counted_in_the_next_delivery(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """``Delivery.retries`` counts the retries so far, so the app can apply max_retries."""
        # Given a sent message
        broker.send(make_message())
        # When it is reserved and retried three times
        retries_seen = []
        for _ in range(3):
            delivery = reserve_one(broker, queue_name)
            retries_seen.append(delivery.retries)
            broker.retry(delivery, delay=0.0, error="boom")
        # Then each delivery saw one more retry than the last
        assert retries_seen == [0, 1, 2]

    def test_first_delivery_has_no_last_error(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A message that never failed carries no error."""
        # Given a sent message, when it is reserved for the first time
        broker.send(make_message())
        delivery = reserve_one(broker, queue_name)
        # Then it has no last error
        assert delivery.last_error is None

    def test_next_delivery_carries_the_error_of_the_last_retry(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """The worker sees why the previous attempt failed; a later retry replaces the error."""
        # Given a message retried with one error, then with another
        broker.send(make_message())
        broker.retry(reserve_one(broker, queue_name), delay=0.0, error="ValueError: first")
        after_first = reserve_one(broker, queue_name)
        broker.retry(after_first, delay=0.0, error="KeyError: second")
        # When it is reserved again
        after_second = reserve_one(broker, queue_name)
        # Then each delivery carried the error of the retry just before it
        assert after_first.last_error == "ValueError: first"
        assert after_second.last_error == "KeyError: second"

    def test_token_keeps_growing_across_retries(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Every delivery after a retry has a new, higher token and is marked redelivered."""
        # Given a sent message
        broker.send(make_message())
        # When it is reserved and retried three times
        seen = []
        for _ in range(3):
            delivery = reserve_one(broker, queue_name)
            seen.append((delivery.token, delivery.redelivered))
            broker.retry(delivery, delay=0.0)
        # Then tokens are 1, 2, 3 and only the first delivery is fresh
        assert seen == [(1, False), (2, True), (3, True)]

    @pytest.mark.parametrize("put_back", sorted(PUT_BACKS))
    def test_put_backs_are_not_counted_as_lost_leases(
        self,
        broker: BaseBroker,
        clock: FakeClock,
        make_message: MessageFactory,
        queue_name: str,
        put_back: str,
    ) -> None:
        """Many retries or postpones do not use up ``max_deliveries``: only lost leases do."""
        # Given a message allowed two lost leases, put back three times
        message = make_message(max_deliveries=2)
        broker.send(message)
        for _ in range(3):
            assert PUT_BACKS[put_back](broker, reserve_one(broker, queue_name)) is True
        # When it then loses its lease once
        lose_lease(broker, clock, reserve_one(broker, queue_name))
        # Then it is still alive and comes back
        assert broker.counts(queue_name).dead == 0
        assert reserve_one(broker, queue_name).id == message.id

    def test_lost_lease_does_not_count_a_retry(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A message retried once and then lost still reports one retry, not two."""
        # Given a message retried once, then lost by a crashing worker
        broker.send(make_message())
        broker.retry(reserve_one(broker, queue_name), delay=0.0)
        lose_lease(broker, clock, reserve_one(broker, queue_name))
        # When it is reserved again
        delivery = reserve_one(broker, queue_name)
        # Then one retry and three deliveries are on record
        assert (delivery.retries, delivery.token) == (1, 3)

    def test_dead_letter_keeps_the_retry_and_delivery_counts(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A message buried after retries shows how often it ran and was retried."""
        # Given a message retried twice, then buried on its third delivery
        broker.send(make_message())
        for _ in range(2):
            broker.retry(reserve_one(broker, queue_name), delay=0.0, error="boom")
        broker.dead(reserve_one(broker, queue_name), reason="max retries exceeded")
        # When the dead letters are listed
        (letter,) = broker.list_dead(queue_name)
        # Then the counters are there
        assert (letter.retries, letter.deliveries) == (2, 3)

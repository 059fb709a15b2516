"""Results: what a task produced, kept under its message id for a while, waited for without polling.

Waiters run on their own threads (``BlockedGetResult``) with timeouts far longer than a woken
waiter needs; nothing sleeps. The results' time to live runs on the broker's (fake) clock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

import pytest
from pydantic import JsonValue

from taskq_core.capabilities import ResultStore
from taskq_core.schemas import Message, TaskResult
from taskq_core.testing.conformance.base import (
    LEASE,
    OTHER_WORKER,
    WORKER,
    BlockedGetResult,
    ConformanceBase,
    lose_lease,
    require_injector,
    reserve_one,
)
from taskq_core.testing.conformance.dead import CORRUPT_PAYLOAD

if TYPE_CHECKING:
    from taskq_core.clock import FakeClock
    from taskq_core.schemas import Delivery
    from taskq_core.testing.conformance.base import Broker, RawPayloadInjector, Requires
    from taskq_core.testing.plugin import MessageFactory

#: A time to live no test reaches unless it moves the clock on purpose, in seconds.
LONG_TTL = 3600.0


def success(message: Message, clock: FakeClock, value: JsonValue = None) -> TaskResult:
    """A SUCCESS result for ``message`` carrying a JSON value, finished now."""
    return TaskResult(
        id=message.id,
        status="SUCCESS",
        value={"sum": 3, "items": [1, "two", None]} if value is None else value,
        finished_at=clock.now(),
    )


def failure(message: Message, clock: FakeClock) -> TaskResult:
    """A FAILURE result for ``message`` with a remote exception, finished now."""
    return TaskResult(
        id=message.id,
        status="FAILURE",
        error_type="ValueError",
        error_message="bad input",
        traceback='Traceback (most recent call last):\n  File "task.py", line 1\nValueError',
        finished_at=clock.now(),
    )


#: Ways a result gets stored with a time to live; each must expire on the broker's clock.
STORES_WITH_TTL: dict[str, Callable[[Broker, Delivery, TaskResult, float], object]] = {
    "store_result": lambda broker, held, result, ttl: broker.store_result(result, ttl=ttl),
    "ack": lambda broker, held, result, ttl: broker.ack(held, result=result, result_ttl=ttl),
    "dead": lambda broker, held, result, ttl: broker.dead(
        held, reason="test", result=result, result_ttl=ttl
    ),
}

#: Settlements that take a result; each stores it even when the handle is fenced out.
SETTLES_WITH_RESULT: dict[str, Callable[[Broker, Delivery, TaskResult], bool]] = {
    "ack": lambda broker, held, result: broker.ack(held, result=result),
    "dead": lambda broker, held, result: broker.dead(held, reason="test", result=result),
}


class ResultTests(ConformanceBase):
    """A stored result is readable by id, by any number of waiters, until it expires."""

    requires: ClassVar[Requires] = (ResultStore,)

    def test_ack_with_a_result_stores_it(
        self, broker: Broker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """The result given to ``ack`` is readable under the message id afterwards."""
        # Given a reserved message and what its task returned
        message = make_message()
        broker.send(message)
        result = success(message, clock)
        # When the worker acks it with the result
        assert broker.ack(reserve_one(broker, queue_name), result=result) is True
        # Then the result can be read without waiting
        assert broker.get_result(message.id) == result

    def test_ack_without_a_result_stores_none(
        self, broker: Broker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Tasks whose results nobody wants leave nothing behind."""
        # Given a message acked without a result
        message = make_message()
        broker.send(message)
        broker.ack(reserve_one(broker, queue_name))
        # When its result is read, then there is none
        assert broker.get_result(message.id) is None

    def test_get_result_does_not_wait_by_default(
        self, broker: Broker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Before the task finishes, a plain ``get_result`` answers ``None`` at once."""
        # Given a message still being processed
        message = make_message()
        broker.send(message)
        reserve_one(broker, queue_name)
        # When its result is read with the default timeout, then there is none yet
        assert broker.get_result(message.id) is None

    def test_get_result_gives_up_after_its_timeout(
        self, broker: Broker, make_message: MessageFactory
    ) -> None:
        """A waiter for a result that never comes returns ``None`` after its timeout."""
        # Given no result for a message, when a caller waits briefly for it
        got = broker.get_result(make_message().id, timeout=0.05)
        # Then it returns empty-handed
        assert got is None

    def test_waiter_blocked_before_the_ack_receives_the_result(
        self, broker: Broker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A caller already waiting is woken by the ack that stores the result."""
        # Given a reserved message and a caller waiting for its result with a long timeout
        message = make_message()
        broker.send(message)
        held = reserve_one(broker, queue_name)
        waiter = BlockedGetResult(broker, message.id)
        # When another thread acks it with a result
        result = success(message, clock)
        broker.ack(held, result=result)
        # Then the waiter returns that result well before its own timeout
        assert waiter.outcome() == result

    def test_waiter_starting_after_the_result_gets_it_at_once(
        self, broker: Broker, clock: FakeClock, make_message: MessageFactory
    ) -> None:
        """A caller waiting with no timeout at all finds a result stored before it started."""
        # Given a stored result
        message = make_message()
        result = success(message, clock)
        broker.store_result(result, ttl=LONG_TTL)
        # When a caller waits for it without a timeout, then it returns the result
        assert BlockedGetResult(broker, message.id, timeout=None).outcome() == result

    def test_every_concurrent_waiter_receives_the_result(
        self, broker: Broker, clock: FakeClock, make_message: MessageFactory
    ) -> None:
        """One stored result wakes all of its waiters, not just one of them."""
        # Given three callers waiting for the same result
        message = make_message()
        waiters = [BlockedGetResult(broker, message.id) for _ in range(3)]
        # When the result is stored
        result = success(message, clock)
        broker.store_result(result, ttl=LONG_TTL)
        # Then each of them returns it
        assert [waiter.outcome() for waiter in waiters] == [result] * 3

    def test_store_result_replaces_an_earlier_one(
        self, broker: Broker, clock: FakeClock, make_message: MessageFactory
    ) -> None:
        """The latest result stored under an id is the one read back."""
        # Given a stored result
        message = make_message()
        broker.store_result(success(message, clock, value=1), ttl=LONG_TTL)
        # When another result is stored under the same id
        latest = success(message, clock, value=2)
        broker.store_result(latest, ttl=LONG_TTL)
        # Then only the latest is read back
        assert broker.get_result(message.id) == latest

    @pytest.mark.parametrize("store", sorted(STORES_WITH_TTL))
    def test_result_expires_after_its_ttl_on_the_broker_clock(
        self,
        broker: Broker,
        clock: FakeClock,
        make_message: MessageFactory,
        queue_name: str,
        store: str,
    ) -> None:
        """A result lives ``ttl`` seconds of broker time, however it was stored."""
        # Given a result stored with a 60 s time to live
        message = make_message()
        broker.send(message)
        result = success(message, clock)
        STORES_WITH_TTL[store](broker, reserve_one(broker, queue_name), result, 60.0)
        # When 59 s pass, then it is still there
        clock.advance(59.0)
        assert broker.get_result(message.id) == result
        # When 2 more seconds pass, then it is gone
        clock.advance(2.0)
        assert broker.get_result(message.id) is None

    def test_forget_result_deletes_it(
        self, broker: Broker, clock: FakeClock, make_message: MessageFactory
    ) -> None:
        """A forgotten result reads as absent; forgetting an unknown id is harmless."""
        # Given a stored result
        message = make_message()
        broker.store_result(success(message, clock), ttl=LONG_TTL)
        # When it is forgotten, twice
        broker.forget_result(message.id)
        broker.forget_result(message.id)
        # Then it is gone
        assert broker.get_result(message.id) is None

    def test_dead_with_a_failure_stores_it(
        self, broker: Broker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A buried message's FAILURE, with the remote error, is readable under its id."""
        # Given a reserved message whose task failed for good
        message = make_message()
        broker.send(message)
        result = failure(message, clock)
        # When the worker buries it with the failure
        assert broker.dead(reserve_one(broker, queue_name), reason="boom", result=result) is True
        # Then the failure is readable, error type, message and traceback included
        assert broker.get_result(message.id) == result

    @pytest.mark.parametrize("settle", sorted(SETTLES_WITH_RESULT))
    def test_fenced_out_settlement_still_stores_the_result(
        self,
        broker: Broker,
        clock: FakeClock,
        make_message: MessageFactory,
        queue_name: str,
        settle: str,
    ) -> None:
        """A worker that lost its lease did run the task: its result is kept, the state is not."""
        # Given a message lost by one worker and re-reserved by another
        message = make_message()
        broker.send(message)
        stale = reserve_one(broker, queue_name, worker_id=WORKER)
        lose_lease(broker, clock, stale)
        reserve_one(broker, queue_name, worker_id=OTHER_WORKER)
        # When the stale worker settles it with a result
        result = success(message, clock)
        acted = SETTLES_WITH_RESULT[settle](broker, stale, result)
        # Then the settlement is refused, yet the result is stored
        assert acted is False
        assert broker.counts(queue_name).processing == 1
        assert broker.get_result(message.id) == result

    def test_undecodable_payload_gets_a_failure_result(
        self,
        broker: Broker,
        make_message: MessageFactory,
        queue_name: str,
        inject_raw_payload: RawPayloadInjector | None,
    ) -> None:
        """A caller waiting on a corrupt message learns it failed instead of waiting forever."""
        inject = require_injector(
            inject_raw_payload, "the FAILURE result of an undecodable payload"
        )
        # Given a corrupt payload in READY
        inject(broker, queue_name, "corrupt-1", CORRUPT_PAYLOAD)
        # When a worker reserves (and the broker buries it)
        assert broker.reserve([queue_name], worker_id=WORKER, lease=LEASE) == []
        # Then its result is a FAILURE naming the decode error, with the reason as message
        (letter,) = broker.list_dead(queue_name)
        result = broker.get_result("corrupt-1")
        assert result is not None
        assert (result.id, result.status) == ("corrupt-1", "FAILURE")
        assert (result.error_type, result.error_message) == ("MessageDecodeError", letter.reason)

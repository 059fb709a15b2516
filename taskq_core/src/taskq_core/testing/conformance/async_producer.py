"""The asyncio producer capability: sends and result waits that keep the sync promises.

Skipped, with a reason, for a backend that is not an ``AsyncProducing``, or whose
``async_producer()`` raises ``ConfigurationError`` (a Redis broker given no ``async_client``).
Each test drives its own event loop with ``asyncio.run`` (no pytest plugin needed); results are
stored the way a worker stores them, through the sync broker, from another thread where the
test is about being woken.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, ClassVar

import pytest

from taskq_core.capabilities import AsyncProducing, ResultStore
from taskq_core.errors import ConfigurationError
from taskq_core.testing.conformance.base import (
    THREAD_GUARD_TIMEOUT,
    ConformanceBase,
    reserve_one,
    reserved_ids,
)
from taskq_core.testing.conformance.results import LONG_TTL, success

if TYPE_CHECKING:
    from taskq_core.aio import AsyncProducer
    from taskq_core.clock import FakeClock
    from taskq_core.testing.conformance.base import Broker, Requires
    from taskq_core.testing.plugin import MessageFactory

#: How many result waiters the responsiveness test keeps pending at once.
WAITERS = 100
#: Ticks the ticker coroutine makes while they wait, and the pause of each, in seconds.
TICKS = 20
TICK_SECONDS = 0.01


class AsyncProducerTests(ConformanceBase):
    """``async_producer()``: the sync send and result promises, awaited on one event loop."""

    requires: ClassVar[Requires] = (AsyncProducing, ResultStore)

    @pytest.fixture
    def producer(self, broker: Broker) -> AsyncProducer:
        """The broker's asyncio producer; skips the test for a backend without one."""
        try:
            return broker.async_producer()
        except ConfigurationError as exc:
            pytest.skip(f"no asyncio producer: {exc}")

    def test_asend_writes_a_ready_message_once(
        self,
        broker: Broker,
        producer: AsyncProducer,
        make_message: MessageFactory,
        queue_name: str,
    ) -> None:
        """An awaited send lands in READY; sending the same id again writes nothing."""
        # Given a message
        message = make_message()

        # When it is sent twice from a coroutine
        async def send_twice() -> tuple[bool, bool]:
            return await producer.asend(message), await producer.asend(message)

        first, second = asyncio.run(send_twice())
        # Then the first send wrote it, the second did not, and a worker reserves it once
        assert (first, second) == (True, False)
        assert reserve_one(broker, queue_name).message == message
        assert broker.reserve([queue_name], worker_id="w", lease=30.0) == []

    def test_asend_with_an_eta_waits_in_scheduled(
        self,
        broker: Broker,
        clock: FakeClock,
        producer: AsyncProducer,
        make_message: MessageFactory,
        queue_name: str,
    ) -> None:
        """A send with an ETA is not reservable before it, and is after it."""
        # Given a message sent for one minute from now
        message = make_message()
        assert asyncio.run(producer.asend(message, eta=clock.now() + 60.0)) is True
        # Then it waits in SCHEDULED
        assert broker.counts(queue_name).scheduled == 1
        assert broker.reserve([queue_name], worker_id="w", lease=30.0) == []
        # When the minute has passed, then a worker reserves it
        clock.advance(61.0)
        assert reserve_one(broker, queue_name).id == message.id

    def test_asend_batch_flags_each_message(
        self,
        broker: Broker,
        producer: AsyncProducer,
        make_message: MessageFactory,
        queue_name: str,
    ) -> None:
        """A batch writes the new messages and reports the known id as not written."""
        # Given one message already sent
        known = make_message()
        broker.send(known)
        fresh = [make_message(), make_message()]
        # When a batch with it in the middle is sent
        written = asyncio.run(producer.asend_batch([fresh[0], known, fresh[1]]))
        # Then only the new ones were written, and all three are READY once, in order
        assert written == [True, False, True]
        reserved = broker.reserve([queue_name], worker_id="w", lease=30.0, limit=10)
        assert reserved_ids(reserved) == [known.id, fresh[0].id, fresh[1].id]

    def test_asend_with_replace_result_drops_the_earlier_result(
        self,
        broker: Broker,
        clock: FakeClock,
        producer: AsyncProducer,
        make_message: MessageFactory,
    ) -> None:
        """Reusing an id with ``replace_result`` deletes its old result, as ``send`` does."""
        # Given a result stored under an id that is not queued
        message = make_message()
        broker.store_result(success(message, clock), ttl=LONG_TTL)
        # When a message with that id is sent with replace_result
        assert asyncio.run(producer.asend(message, replace_result=True)) is True
        # Then the old result is gone
        assert broker.get_result(message.id) is None

    def test_aget_result_reads_a_stored_result_and_times_out_without_one(
        self,
        broker: Broker,
        clock: FakeClock,
        producer: AsyncProducer,
        make_message: MessageFactory,
    ) -> None:
        """A stored result is returned at once; a missing one gives ``None`` after the wait."""
        # Given one stored result and one message without a result
        stored, missing = make_message(), make_message()
        result = success(stored, clock)
        broker.store_result(result, ttl=LONG_TTL)

        async def read() -> list[object]:
            return [
                await producer.aget_result(stored.id, timeout=None),
                await producer.aget_result(missing.id),
                await producer.aget_result(missing.id, timeout=0.05),
            ]

        # When both are read, then the stored one comes back and the missing one is None
        assert asyncio.run(read()) == [result, None, None]

    def test_aget_result_is_woken_by_an_ack_in_another_thread(
        self,
        broker: Broker,
        clock: FakeClock,
        producer: AsyncProducer,
        make_message: MessageFactory,
        queue_name: str,
    ) -> None:
        """A coroutine waiting for a result receives it when a worker thread acks."""
        # Given a reserved message
        message = make_message()
        broker.send(message)
        held = reserve_one(broker, queue_name)
        result = success(message, clock)

        async def wait_then_ack() -> object:
            waiter = asyncio.create_task(producer.aget_result(message.id, timeout=None))
            await asyncio.sleep(0)  # the waiter has started waiting
            # When a worker thread acks it with a result
            worker = threading.Thread(target=lambda: broker.ack(held, result=result))
            worker.start()
            try:
                return await asyncio.wait_for(waiter, THREAD_GUARD_TIMEOUT)
            finally:
                worker.join(THREAD_GUARD_TIMEOUT)

        # Then the waiting coroutine returns that result
        assert asyncio.run(wait_then_ack()) == result

    def test_the_loop_keeps_running_while_many_result_waits_are_pending(
        self,
        broker: Broker,
        clock: FakeClock,
        producer: AsyncProducer,
        make_message: MessageFactory,
    ) -> None:
        """100 pending ``aget_result`` calls leave the loop free: a ticker makes every tick.

        A wait that blocked the loop would hold the ticker until the guard thread stores the
        result, so the waits would end before the ticks do.
        """
        message = make_message()
        result = success(message, clock)
        guard = threading.Timer(THREAD_GUARD_TIMEOUT / 2, broker.store_result, (result,))

        async def scenario() -> tuple[int, int, list[object]]:
            # Given 100 coroutines waiting for one result
            waits = [
                asyncio.create_task(producer.aget_result(message.id, timeout=None))
                for _ in range(WAITERS)
            ]
            guard.start()
            # When a ticker ticks TICKS times meanwhile
            ticks = 0
            for _ in range(TICKS):
                await asyncio.sleep(TICK_SECONDS)
                ticks += 1
            finished_during_ticks = sum(wait.done() for wait in waits)
            # And then a worker thread stores the result
            storing = threading.Thread(
                target=broker.store_result, args=(result,), kwargs={"ttl": LONG_TTL}
            )
            storing.start()
            values = await asyncio.wait_for(asyncio.gather(*waits), THREAD_GUARD_TIMEOUT)
            storing.join(THREAD_GUARD_TIMEOUT)
            return ticks, finished_during_ticks, list(values)

        try:
            ticks, finished_during_ticks, values = asyncio.run(scenario())
        finally:
            guard.cancel()
        # Then every tick happened while all the waits were pending, and each wait got it
        assert (ticks, finished_during_ticks) == (TICKS, 0)
        assert values == [result] * WAITERS

    def test_aforget_result_deletes_it(
        self,
        broker: Broker,
        clock: FakeClock,
        producer: AsyncProducer,
        make_message: MessageFactory,
    ) -> None:
        """A forgotten result is gone for sync and async readers alike."""
        # Given a stored result
        message = make_message()
        broker.store_result(success(message, clock), ttl=LONG_TTL)
        # When it is forgotten from a coroutine
        asyncio.run(producer.aforget_result(message.id))
        # Then it is gone
        assert broker.get_result(message.id) is None

    def test_one_producer_serves_loop_after_loop_and_loops_in_threads(
        self,
        broker: Broker,
        producer: AsyncProducer,
        make_message: MessageFactory,
        queue_name: str,
    ) -> None:
        """Connections of a finished loop are not reused by the next; loops in threads work."""
        # Given two loops run one after the other, and two more in two threads at once
        messages = [make_message() for _ in range(4)]
        sent = [asyncio.run(producer.asend(message)) for message in messages[:2]]
        outcomes: list[bool] = []

        def in_thread(index: int) -> None:
            outcomes.append(asyncio.run(producer.asend(messages[index])))

        threads = [threading.Thread(target=in_thread, args=(i,)) for i in (2, 3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(THREAD_GUARD_TIMEOUT)
        # Then every send was written
        assert sent + outcomes == [True] * 4
        assert broker.counts(queue_name).ready == 4

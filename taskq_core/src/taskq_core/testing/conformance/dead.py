"""DEAD: buried messages keep their reason, can be listed, requeued with fresh counters, purged."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from taskq_core.errors import MessageDecodeError
from taskq_core.schemas import Message
from taskq_core.testing.conformance.base import (
    LEASE,
    WORKER,
    ConformanceBase,
    lose_lease,
    require_injector,
    reserve_one,
    reserved_ids,
)

if TYPE_CHECKING:
    from taskq_core.broker import BaseBroker
    from taskq_core.clock import FakeClock
    from taskq_core.testing.conformance.base import RawPayloadInjector
    from taskq_core.testing.plugin import MessageFactory

#: Text that is not a taskq message (not even JSON), as a foreign producer might leave it.
CORRUPT_PAYLOAD = '{"task": "tests.noop", "args": [1, 2'


def bury(broker: BaseBroker, message: Message, reason: str = "test") -> None:
    """Send, reserve and bury ``message`` (given step shared by the DEAD tests)."""
    broker.send(message)
    assert broker.dead(reserve_one(broker, message.queue), reason=reason) is True


class DeadTests(ConformanceBase):
    """DEAD keeps what died and why until an operator requeues or purges it."""

    def test_dead_keeps_the_message_and_its_reason(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A buried message is listed with its reason, raw payload, decoded message and time."""
        # Given a reserved message
        message = make_message()
        broker.send(message)
        delivery = reserve_one(broker, queue_name)
        # When the worker buries it
        assert broker.dead(delivery, reason="unknown task tests.noop") is True
        # Then it is listed with everything needed to understand and requeue it
        (letter,) = broker.list_dead(queue_name)
        assert (letter.id, letter.queue, letter.reason) == (
            message.id,
            queue_name,
            "unknown task tests.noop",
        )
        assert letter.message == message
        assert Message.from_json(letter.payload) == message
        assert letter.died_at == pytest.approx(clock.now(), abs=1e-3)

    def test_dead_message_leaves_processing_and_is_not_reserved(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A buried message is only in DEAD: not processing, not handed out again."""
        # Given a buried message
        bury(broker, make_message())
        # When a worker reserves
        batch = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE)
        # Then nothing comes out, and the counts show one dead message only
        assert batch == []
        counts = broker.counts(queue_name)
        assert (counts.ready, counts.processing, counts.dead) == (0, 0, 1)

    def test_list_dead_is_most_recent_first(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """The newest deaths are listed first, the order an operator wants to read them in."""
        # Given three messages buried a second apart
        messages = [make_message() for _ in range(3)]
        for message in messages:
            bury(broker, message)
            clock.advance(1.0)
        # When the dead letters are listed
        listed = [letter.id for letter in broker.list_dead(queue_name)]
        # Then the last one buried comes first
        assert listed == [m.id for m in reversed(messages)]

    def test_list_dead_pages_with_offset_and_limit(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """``offset`` and ``limit`` page through the most-recent-first listing."""
        # Given five messages buried a second apart
        messages = [make_message() for _ in range(5)]
        for message in messages:
            bury(broker, message)
            clock.advance(1.0)
        # When the second page of two is listed
        page = broker.list_dead(queue_name, offset=2, limit=2)
        # Then it holds the third and fourth most recent
        assert [letter.id for letter in page] == [messages[2].id, messages[1].id]

    def test_requeue_dead_moves_everything_back_to_ready(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Requeueing without ids returns every dead message to READY."""
        # Given two buried messages
        messages = [make_message(), make_message()]
        for message in messages:
            bury(broker, message)
        # When all are requeued
        moved = broker.requeue_dead(queue_name)
        # Then both are ready again and reservable
        assert moved == 2
        counts = broker.counts(queue_name)
        assert (counts.ready, counts.dead) == (2, 0)
        batch = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE, limit=2)
        assert sorted(reserved_ids(batch)) == sorted(m.id for m in messages)

    def test_requeue_dead_by_ids_moves_only_those(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Requeueing chosen ids leaves the others dead and ignores unknown ids."""
        # Given two buried messages
        chosen, left = make_message(), make_message()
        bury(broker, chosen)
        bury(broker, left)
        # When one of them, plus an id nobody knows, is requeued
        moved = broker.requeue_dead(queue_name, [chosen.id, "no-such-id"])
        # Then only that one moved
        assert moved == 1
        assert [letter.id for letter in broker.list_dead(queue_name)] == [left.id]
        assert reserve_one(broker, queue_name).id == chosen.id

    def test_requeued_message_starts_with_fresh_counters_but_a_new_token(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Requeueing resets the retries; the delivery count keeps growing, so tokens are new."""
        # Given a message retried once (token 1), then buried on its second delivery (token 2)
        broker.send(make_message())
        broker.retry(reserve_one(broker, queue_name), delay=0.0, error="boom")
        broker.dead(reserve_one(broker, queue_name), reason="gave up")
        # When it is requeued and reserved
        broker.requeue_dead(queue_name)
        delivery = reserve_one(broker, queue_name)
        # Then no retry is on record, but the token was never handed out before
        assert (delivery.token, delivery.retries, delivery.redelivered) == (3, 0, True)

    def test_requeued_message_gets_its_lost_lease_allowance_back(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A message buried for lost leases survives a new loss after being requeued."""
        # Given a message allowed two lost leases that lost both and was buried
        message = make_message(max_deliveries=2)
        broker.send(message)
        for _ in range(2):
            lose_lease(broker, clock, reserve_one(broker, queue_name))
        assert broker.counts(queue_name).dead == 1
        # When it is requeued and loses one lease
        broker.requeue_dead(queue_name)
        lose_lease(broker, clock, reserve_one(broker, queue_name))
        # Then it is back in READY, not DEAD
        counts = broker.counts(queue_name)
        assert (counts.ready, counts.dead) == (1, 0)

    def test_dead_letter_keeps_the_last_retry_error(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """An operator reading DEAD sees the error of the last retry next to the reason."""
        # Given a message retried with two different errors, then buried
        broker.send(make_message())
        broker.retry(reserve_one(broker, queue_name), delay=0.0, error="ValueError: first")
        broker.retry(reserve_one(broker, queue_name), delay=0.0, error="KeyError: second")
        broker.dead(reserve_one(broker, queue_name), reason="max retries exceeded")
        # When the dead letters are listed
        (letter,) = broker.list_dead(queue_name)
        # Then the latest error is kept
        assert letter.last_error == "KeyError: second"

    def test_dead_letter_of_a_message_never_retried_has_no_last_error(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A message buried on its first delivery has no retry error to show."""
        # Given a message buried at once, when it is listed
        bury(broker, make_message())
        (letter,) = broker.list_dead(queue_name)
        # Then there is no last error
        assert letter.last_error is None

    def test_purge_dead_deletes_only_dead_messages(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """``purge_dead`` empties DEAD, says how many, and leaves READY alone."""
        # Given two dead messages and one ready
        bury(broker, make_message())
        bury(broker, make_message())
        broker.send(make_message())
        # When DEAD is purged
        purged = broker.purge_dead(queue_name)
        # Then two were deleted and the ready one remains
        assert purged == 2
        assert broker.list_dead(queue_name) == []
        counts = broker.counts(queue_name)
        assert (counts.ready, counts.dead) == (1, 0)

    def test_undecodable_payload_goes_to_dead_at_reserve(
        self,
        broker: BaseBroker,
        make_message: MessageFactory,
        queue_name: str,
        inject_raw_payload: RawPayloadInjector | None,
    ) -> None:
        """An undecodable payload is buried with the decode error; the messages behind it flow."""
        inject = require_injector(
            inject_raw_payload,
            "the undecodable-payload path (reserve -> DEAD with the decode error)",
        )
        # Given a corrupt payload ahead of a valid message
        inject(broker, queue_name, "corrupt-1", CORRUPT_PAYLOAD)
        good = make_message()
        broker.send(good)
        # When a worker reserves a batch
        batch = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE, limit=10)
        # Then only the valid message is handed out
        assert reserved_ids(batch) == [good.id]
        # And the corrupt one lies in DEAD with its raw text and the reason
        (letter,) = broker.list_dead(queue_name)
        assert (letter.id, letter.payload, letter.message) == ("corrupt-1", CORRUPT_PAYLOAD, None)
        with pytest.raises(MessageDecodeError) as decode_error:
            Message.from_json(CORRUPT_PAYLOAD)
        assert str(decode_error.value) in letter.reason
        counts = broker.counts(queue_name)
        assert (counts.ready, counts.processing, counts.dead) == (0, 1, 1)

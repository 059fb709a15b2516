"""Unique keys: while a message holds a key, a send with that key writes nothing.

``send_unique`` claims the key and writes the message in one atomic step. The hold ends when
its TTL runs out (broker time), and with ``until="done"`` also when the message is acked or
goes to DEAD; retries keep it. A duplicate send answers the holder's id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

import pytest

from taskq_core.capabilities import Inspection, UniqueSends
from taskq_core.testing.conformance.base import (
    LEASE,
    ConformanceBase,
    reserve_one,
    run_concurrently,
)
from taskq_core.unique import UniqueClaim

if TYPE_CHECKING:
    from taskq_core.clock import FakeClock
    from taskq_core.schemas import Delivery
    from taskq_core.testing.conformance.base import Broker, Requires
    from taskq_core.testing.plugin import MessageFactory

#: Seconds a test's unique key is held at most.
TTL = 60.0

#: Ways a message is done for good; each releases a key held until done.
ENDS: dict[str, Callable[[Broker, FakeClock, Delivery], object]] = {
    "ack": lambda broker, clock, held: broker.ack(held),
    "ack_many": lambda broker, clock, held: broker.ack_many([held]),
    "dead": lambda broker, clock, held: broker.dead(held, reason="test"),
    "lease lost at max_deliveries": lambda broker, clock, held: (
        clock.advance(LEASE + 1.0),
        broker.recover_expired(held.queue),
    ),
}


def claim(key: str = "user:42", *, until: str = "done") -> UniqueClaim:
    """A claim of ``key`` for :data:`TTL` seconds."""
    return UniqueClaim(key=key, ttl=TTL, until="ttl" if until == "ttl" else "done")


class UniqueKeyTests(ConformanceBase):
    """``send_unique``: one message per unique key and queue while the key is held."""

    requires: ClassVar[Requires] = (UniqueSends,)

    def test_a_second_send_with_a_held_key_writes_nothing_and_names_the_holder(
        self, broker: Broker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """The duplicate answers the first message's id; READY holds only the first."""
        # Given a message sent with a unique key
        first, second = make_message(), make_message()
        assert broker.send_unique(first, claim()) == first.id
        # When another message is sent with the same key
        holder = broker.send_unique(second, claim())
        # Then nothing is written and the answer is the first message's id
        assert holder == first.id
        assert broker.counts(queue_name).ready == 1
        if isinstance(broker, Inspection):
            assert broker.message_info(queue_name, second.id) is None

    def test_different_keys_do_not_exclude_each_other(
        self, broker: Broker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Each key has its own hold."""
        # Given a message holding one key
        first, second = make_message(), make_message()
        broker.send_unique(first, claim("user:1"))
        # When a message with another key is sent
        # Then it is written
        assert broker.send_unique(second, claim("user:2")) == second.id
        assert broker.counts(queue_name).ready == 2

    def test_a_key_is_held_per_queue(
        self, broker: Broker, make_message: MessageFactory, other_queue: str
    ) -> None:
        """The same key in two queues is two holds."""
        # Given a message holding a key in one queue
        broker.send_unique(make_message(), claim())
        # When a message with the same key goes to another queue
        elsewhere = make_message(queue=other_queue)
        # Then it is written
        assert broker.send_unique(elsewhere, claim()) == elsewhere.id

    def test_a_scheduled_message_holds_its_key(
        self, broker: Broker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A unique send with an ETA goes to SCHEDULED and holds the key while it waits."""
        # Given a message scheduled with a unique key
        first = make_message()
        assert broker.send_unique(first, claim(), eta=clock.now() + 30.0) == first.id
        # When the same key is sent again
        # Then the scheduled message is the holder
        assert broker.send_unique(make_message(), claim()) == first.id
        assert broker.counts(queue_name).scheduled == 1

    @pytest.mark.parametrize("end", sorted(ENDS))
    def test_a_message_that_is_done_releases_its_key(
        self,
        broker: Broker,
        clock: FakeClock,
        make_message: MessageFactory,
        queue_name: str,
        end: str,
    ) -> None:
        """Acked or DEAD, the message no longer holds its key (``until="done"``)."""
        # Given a held message with a unique key (one lost lease sends it to DEAD)
        broker.send_unique(make_message(max_deliveries=1), claim())
        held = reserve_one(broker, queue_name)
        # When its delivery ends for good
        ENDS[end](broker, clock, held)
        # Then the key is free again
        again = make_message()
        assert broker.send_unique(again, claim()) == again.id

    def test_a_retried_message_keeps_its_key(
        self, broker: Broker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A retry is not the end: the key stays held."""
        # Given a held message with a unique key
        first = make_message()
        broker.send_unique(first, claim())
        held = reserve_one(broker, queue_name)
        # When it is retried
        assert broker.retry(held, delay=0.0, error="boom")
        # Then it still holds the key
        assert broker.send_unique(make_message(), claim()) == first.id

    def test_the_ttl_ends_a_hold_before_the_message_is_done(
        self, broker: Broker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Whichever comes first: after the TTL the key is free while the first still waits."""
        # Given a message holding a key, still READY
        broker.send_unique(make_message(), claim())
        # When the TTL has run out
        clock.advance(TTL)
        # Then a second message with the key is written
        second = make_message()
        assert broker.send_unique(second, claim()) == second.id
        assert broker.counts(queue_name).ready == 2

    def test_until_ttl_holds_the_key_after_the_message_is_acked(
        self, broker: Broker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """``until="ttl"``: the ack does not release the key; the TTL does."""
        # Given an acked message whose key is held until its TTL
        first = make_message()
        broker.send_unique(first, claim(until="ttl"))
        assert broker.ack(reserve_one(broker, queue_name))
        # When the key is sent again before the TTL
        # Then the acked message still holds it
        assert broker.send_unique(make_message(), claim(until="ttl")) == first.id
        # And after the TTL it is free
        clock.advance(TTL)
        later = make_message()
        assert broker.send_unique(later, claim(until="ttl")) == later.id

    def test_a_late_ack_does_not_release_a_key_held_by_a_newer_message(
        self, broker: Broker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """After its TTL a message's key may belong to another; its ack leaves that hold alone."""
        # Given a running message whose hold ran out and a newer message holding the key
        broker.send_unique(make_message(), claim())
        held = reserve_one(broker, queue_name, lease=TTL * 10)
        clock.advance(TTL)
        newer = make_message()
        assert broker.send_unique(newer, claim()) == newer.id
        # When the old message is acked
        assert broker.ack(held)
        # Then the newer message still holds the key
        assert broker.send_unique(make_message(), claim()) == newer.id

    def test_a_known_id_writes_nothing_and_answers_itself(
        self, broker: Broker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A unique send retried after a lost reply is idempotent, like ``send``."""
        # Given a message sent with a unique key
        first = make_message()
        broker.send_unique(first, claim())
        # When the very same send is repeated
        # Then it answers its own id and the queue still holds one message
        assert broker.send_unique(first, claim()) == first.id
        assert broker.counts(queue_name).ready == 1

    def test_racing_sends_write_exactly_one_message(
        self, broker: Broker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Claim and write are one step: of eight racing sends, one writes and all agree."""
        # Given eight different messages with the same key
        messages = [make_message() for _ in range(8)]
        # When they are sent at once
        holders = run_concurrently(
            [lambda m=m: broker.send_unique(m, claim()) for m in messages]  # type: ignore[misc]
        )
        # Then one was written and every send names it
        assert len(set(holders)) == 1
        assert holders[0] in {m.id for m in messages}
        assert broker.counts(queue_name).ready == 1

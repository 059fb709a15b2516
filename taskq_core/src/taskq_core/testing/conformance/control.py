"""Revoke and expiry: a revoked or expired message never runs, and never ends unaccounted.

Each ends with a stored result (``REVOKED`` or ``EXPIRED``) and a count in ``counts`` and
``history``, whether it was waiting, scheduled, running or handed back by the reaper.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from taskq_core.capabilities import Inspection, ResultStore, Revocation
from taskq_core.testing.conformance.base import (
    LEASE,
    OTHER_WORKER,
    WORKER,
    ConformanceBase,
    lose_lease,
    reserve_one,
    reserved_ids,
    run_concurrently,
)

if TYPE_CHECKING:
    from taskq_core.broker import BaseBroker
    from taskq_core.clock import FakeClock
    from taskq_core.testing.conformance.base import Broker, Requires
    from taskq_core.testing.plugin import MessageFactory

#: Real seconds a test waits for a termination request that should already be there.
_WAIT = 5.0


def _status(broker: ResultStore, message_id: str) -> str | None:
    result = broker.get_result(message_id)
    return None if result is None else result.status


def _assert_ended(broker: BaseBroker, message_id: str, status: str) -> None:
    """``message_id`` ended with a ``status`` result, when the backend keeps results."""
    if isinstance(broker, ResultStore):
        assert _status(broker, message_id) == status


class RevokeTests(ConformanceBase):
    """``revoke`` removes waiting messages and marks running ones; ``end`` settles them."""

    requires: ClassVar[Requires] = (Revocation, ResultStore)

    def test_revoking_a_ready_message_removes_it_and_stores_revoked(
        self, broker: Broker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """READY: gone at once, result REVOKED, counted; a worker never sees it."""
        # Given a ready message and one behind it
        doomed, kept = make_message(), make_message()
        broker.send(doomed)
        broker.send(kept)
        # When it is revoked
        assert broker.revoke(queue_name, doomed.id) == "revoked"
        # Then only the other one is handed out, and the revoked one has its result and count
        found = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE, limit=10)
        assert reserved_ids(found) == [kept.id]
        assert _status(broker, doomed.id) == "REVOKED"
        assert broker.counts(queue_name).revoked == 1
        if isinstance(broker, Inspection):
            assert broker.history(queue_name, minutes=1)[-1].revoked == 1

    def test_revoking_a_scheduled_message_removes_it(
        self,
        broker: Broker,
        clock: FakeClock,
        make_message: MessageFactory,
        queue_name: str,
    ) -> None:
        """SCHEDULED: gone before its ETA comes, result REVOKED."""
        # Given a message due in 60 s
        message = make_message()
        broker.schedule(message, eta=clock.now() + 60.0)
        # When it is revoked and its ETA passes
        assert broker.revoke(queue_name, message.id) == "revoked"
        clock.advance(61.0)
        # Then nothing is handed out and its result says REVOKED
        assert broker.reserve([queue_name], worker_id=WORKER, lease=LEASE) == []
        assert broker.counts(queue_name).scheduled == 0
        assert _status(broker, message.id) == "REVOKED"

    def test_revoking_twice_or_an_unknown_id_changes_nothing(
        self, broker: Broker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """The second revoke finds nothing; an id never sent is ``absent``."""
        message = make_message()
        broker.send(message)
        assert broker.revoke(queue_name, message.id) == "revoked"
        assert broker.revoke(queue_name, message.id) == "absent"
        assert broker.revoke(queue_name, "never-sent") == "absent"
        assert broker.counts(queue_name).revoked == 1

    def test_revoking_a_dead_message_leaves_it_dead(
        self, broker: Broker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """DEAD is not running and will not run: revoke leaves it for the operator."""
        message = make_message()
        broker.send(message)
        assert broker.dead(reserve_one(broker, queue_name), reason="boom")
        assert broker.revoke(queue_name, message.id) == "absent"
        assert broker.counts(queue_name).dead == 1

    def test_a_running_message_revoked_is_not_run_again_after_a_retry(
        self, broker: Broker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """PROCESSING without terminate: the run goes on, but a retry ends REVOKED at reserve."""
        # Given a running message that is revoked
        message = make_message()
        broker.send(message)
        delivery = reserve_one(broker, queue_name)
        assert broker.revoke(queue_name, message.id) == "running"
        assert _status(broker, message.id) is None
        # When its run fails and is retried
        assert broker.retry(delivery, delay=0.0, error="boom") is True
        # Then no worker gets it again, and it ends REVOKED
        assert broker.reserve([queue_name], worker_id=WORKER, lease=LEASE) == []
        assert _status(broker, message.id) == "REVOKED"
        counts = broker.counts(queue_name)
        assert (counts.ready, counts.processing, counts.revoked) == (0, 0, 1)

    def test_a_revoked_message_whose_worker_died_is_not_run_by_another(
        self,
        broker: Broker,
        clock: FakeClock,
        make_message: MessageFactory,
        queue_name: str,
    ) -> None:
        """The revocation lives in the broker: the reaper's hand-back does not revive it."""
        # Given a running message revoked, whose worker then dies
        message = make_message()
        broker.send(message)
        delivery = reserve_one(broker, queue_name)
        assert broker.revoke(queue_name, message.id, terminate=True) == "running"
        lose_lease(broker, clock, delivery)
        # When another worker (started later) reserves
        found = broker.reserve([queue_name], worker_id=OTHER_WORKER, lease=LEASE)
        # Then it does not get it, and the message ends REVOKED
        assert found == []
        assert _status(broker, message.id) == "REVOKED"
        assert broker.counts(queue_name).processing == 0

    def test_terminate_asks_the_owner_once(
        self, broker: Broker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """``terminate=True`` reaches the owner's ``wait_terminations``, and only the owner's."""
        # Given a message running under WORKER
        message = make_message()
        broker.send(message)
        reserve_one(broker, queue_name)
        # When it is revoked with terminate
        assert broker.revoke(queue_name, message.id, terminate=True) == "running"
        # Then its owner is asked, once; the other worker is not
        assert broker.wait_terminations(OTHER_WORKER, [queue_name], timeout=0.0) == []
        assert broker.wait_terminations(WORKER, [queue_name], timeout=_WAIT) == [message.id]
        assert broker.wait_terminations(WORKER, [queue_name], timeout=0.0) == []

    def test_a_waiting_owner_is_woken_by_terminate(
        self, broker: Broker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A worker blocked in ``wait_terminations`` returns as soon as the request is made."""
        message = make_message()
        broker.send(message)
        reserve_one(broker, queue_name)
        asked, outcome = run_concurrently(
            [
                lambda: broker.wait_terminations(WORKER, [queue_name], timeout=30.0),
                lambda: broker.revoke(queue_name, message.id, terminate=True),
            ]
        )
        assert asked == [message.id]
        assert outcome == "running"

    def test_end_settles_a_held_delivery_revoked_and_is_fenced(
        self, broker: Broker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """``end``: the message leaves like an ack, counted revoked; a second end is fenced out."""
        message = make_message()
        broker.send(message)
        delivery = reserve_one(broker, queue_name)
        assert broker.end(delivery, status="REVOKED") is True
        assert _status(broker, message.id) == "REVOKED"
        counts = broker.counts(queue_name)
        assert (counts.processing, counts.revoked) == (0, 1)
        assert broker.end(delivery, status="REVOKED") is False
        if isinstance(broker, Inspection):
            assert broker.message_info(queue_name, message.id) is None


class ExpiryTests(ConformanceBase):
    """A message not started by its ``expires`` is never handed out; it ends EXPIRED."""

    def test_an_expired_message_is_not_handed_out_and_ends_expired(
        self,
        broker: BaseBroker,
        clock: FakeClock,
        make_message: MessageFactory,
        queue_name: str,
    ) -> None:
        """Past ``expires``: reserve skips it to the next, stores EXPIRED and counts it."""
        # Given a message expiring in 10 s, and one that never expires behind it
        doomed = make_message(expires=clock.now() + 10.0)
        kept = make_message()
        broker.send(doomed)
        broker.send(kept)
        # When 10 s pass before any worker reserves
        clock.advance(10.0)
        # Then a reserve of one hands out the other message
        assert reserve_one(broker, queue_name).id == kept.id
        _assert_ended(broker, doomed.id, "EXPIRED")
        assert broker.counts(queue_name).expired == 1
        if isinstance(broker, Inspection):
            assert broker.history(queue_name, minutes=1)[-1].expired == 1
            assert broker.message_info(queue_name, doomed.id) is None

    def test_a_message_before_its_expiry_runs(
        self,
        broker: BaseBroker,
        clock: FakeClock,
        make_message: MessageFactory,
        queue_name: str,
    ) -> None:
        """Not yet expired: handed out as usual, its ``expires`` on the delivery's message."""
        message = make_message(expires=clock.now() + 10.0)
        broker.send(message)
        clock.advance(9.0)
        delivery = reserve_one(broker, queue_name)
        assert delivery.message.expires == message.expires
        assert broker.counts(queue_name).expired == 0

    def test_a_scheduled_message_that_expires_before_its_eta_never_runs(
        self,
        broker: BaseBroker,
        clock: FakeClock,
        make_message: MessageFactory,
        queue_name: str,
    ) -> None:
        """An ETA after the expiry: it ends EXPIRED when it comes due."""
        message = make_message(expires=clock.now() + 5.0)
        broker.schedule(message, eta=clock.now() + 60.0)
        clock.advance(60.0)
        assert broker.reserve([queue_name], worker_id=WORKER, lease=LEASE) == []
        _assert_ended(broker, message.id, "EXPIRED")
        assert broker.counts(queue_name).expired == 1

    def test_a_retry_waiting_past_the_expiry_ends_expired(
        self,
        broker: BaseBroker,
        clock: FakeClock,
        make_message: MessageFactory,
        queue_name: str,
    ) -> None:
        """The expiry stays with the message through retries: a late retry is not started."""
        message = make_message(expires=clock.now() + 10.0)
        broker.send(message)
        assert broker.retry(reserve_one(broker, queue_name), delay=30.0, error="boom")
        clock.advance(30.0)
        assert broker.reserve([queue_name], worker_id=WORKER, lease=LEASE) == []
        _assert_ended(broker, message.id, "EXPIRED")

    def test_expiry_in_a_batch_send(
        self,
        broker: BaseBroker,
        clock: FakeClock,
        make_message: MessageFactory,
        queue_name: str,
    ) -> None:
        """``send_batch`` keeps each message's expiry."""
        doomed = make_message(expires=clock.now() + 1.0)
        kept = make_message(expires=clock.now() + 100.0)
        broker.send_batch([doomed, kept])
        clock.advance(2.0)
        found = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE, limit=10)
        assert reserved_ids(found) == [kept.id]
        _assert_ended(broker, doomed.id, "EXPIRED")

"""The dashboard's reads: per-minute history of outcomes, and one message looked up by id."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import pytest

from taskq_core.capabilities import Inspection
from taskq_core.schemas import HISTORY_MINUTES, MinuteCounts, QueueStats
from taskq_core.testing.conformance.base import LEASE, WORKER, ConformanceBase, reserve_one

if TYPE_CHECKING:
    from taskq_core.clock import FakeClock
    from taskq_core.testing.conformance.base import Broker, Requires
    from taskq_core.testing.plugin import MessageFactory


def _minute(now: float) -> float:
    return float(60 * int(now // 60))


class HistoryTests(ConformanceBase):
    """Each settled outcome is counted once, in its minute, with its state change; nothing else."""

    requires: ClassVar[Requires] = (Inspection,)

    def test_history_of_an_unknown_queue_is_zeros_ending_now(
        self, broker: Broker, clock: FakeClock, queue_name: str
    ) -> None:
        """One zero entry per minute, consecutive, the last one holding now."""
        # When the history of a queue nobody used is read
        history = broker.history(queue_name, minutes=5)
        # Then it is five empty minutes ending with the current one
        end = _minute(clock.now())
        assert history == [MinuteCounts(minute=end - 60 * i) for i in range(4, -1, -1)]

    def test_acks_deads_and_retries_are_counted_in_their_minute(
        self, broker: Broker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Ack and ack_many count succeeded, dead counts failed, retry counts retried."""
        # Given five messages held by a worker
        broker.send_batch([make_message() for _ in range(5)])
        held = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE, limit=5)
        assert len(held) == 5
        # When one is acked, two acked together, one retried and one buried
        assert broker.ack(held[0])
        assert broker.ack_many(held[1:3]) == [True, True]
        assert broker.retry(held[3], delay=0.0, error="boom")
        assert broker.dead(held[4], reason="gave up")
        # Then the current minute counts each outcome once
        (now,) = broker.history(queue_name, minutes=1)
        assert now == MinuteCounts(minute=_minute(clock.now()), succeeded=3, failed=1, retried=1)

    def test_each_minute_keeps_its_own_counts(
        self, broker: Broker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """An ack a minute later lands in the next minute; the earlier minute keeps its count."""
        # Given one ack now and two a minute later
        broker.send_batch([make_message() for _ in range(3)])
        broker.ack(reserve_one(broker, queue_name))
        first = _minute(clock.now())
        clock.advance(60.0)
        broker.ack(reserve_one(broker, queue_name))
        broker.ack(reserve_one(broker, queue_name))
        # When the last two minutes are read
        history = broker.history(queue_name, minutes=2)
        # Then each minute holds its own acks
        assert history == [
            MinuteCounts(minute=first, succeeded=1),
            MinuteCounts(minute=first + 60, succeeded=2),
        ]

    def test_old_minutes_leave_the_window(
        self, broker: Broker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """After HISTORY_MINUTES minutes an outcome is no longer reported."""
        # Given an ack, then a later ack HISTORY_MINUTES minutes on
        broker.send_batch([make_message(), make_message()])
        broker.ack(reserve_one(broker, queue_name))
        clock.advance(60.0 * HISTORY_MINUTES)
        broker.ack(reserve_one(broker, queue_name))
        # When the whole kept window is read
        history = broker.history(queue_name, minutes=HISTORY_MINUTES)
        # Then only the later ack is in it
        assert sum(m.succeeded for m in history) == 1
        assert history[-1].succeeded == 1

    def test_fenced_out_settlements_and_non_outcomes_count_nothing(
        self, broker: Broker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A refused ack/retry/dead, a postpone, a release and a recovery are not outcomes."""
        # Given a delivery whose lease was lost, and fresh ones postponed and released
        broker.send_batch([make_message() for _ in range(3)])
        stale = reserve_one(broker, queue_name, lease=1.0)
        clock.advance(2.0)
        broker.recover_expired(queue_name)
        assert not broker.ack(stale)
        assert not broker.retry(stale, delay=0.0)
        assert not broker.dead(stale, reason="late")
        assert broker.postpone(reserve_one(broker, queue_name), delay=0.0)
        assert broker.release([reserve_one(broker, queue_name)]) == 1
        # When the history is read, then nothing was counted
        (now,) = broker.history(queue_name, minutes=1)
        assert now == MinuteCounts(minute=_minute(clock.now()))

    @pytest.mark.parametrize("minutes", [0, HISTORY_MINUTES + 1])
    def test_minutes_outside_the_kept_window_are_refused(
        self, broker: Broker, queue_name: str, minutes: int
    ) -> None:
        """Asking for more than is kept (or for nothing) is a ValueError, not a silent cut."""
        with pytest.raises(ValueError, match="minutes"):
            broker.history(queue_name, minutes=minutes)

    def test_queue_stats_are_counts_and_history_together(
        self, broker: Broker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """queue_stats reports what counts and history report."""
        # Given one acked message and one ready
        broker.send_batch([make_message(), make_message()])
        broker.ack(reserve_one(broker, queue_name))
        # When the stats are read
        stats = broker.queue_stats(queue_name, minutes=3)
        # Then they match the two separate reads
        expected = QueueStats(
            counts=broker.counts(queue_name),
            history=tuple(broker.history(queue_name, minutes=3)),
        )
        assert stats == expected
        assert stats.counts.ready == 1
        assert stats.history[-1].succeeded == 1


class MessageInfoTests(ConformanceBase):
    """message_info tells where a message is and what the broker keeps about it."""

    requires: ClassVar[Requires] = (Inspection,)

    def test_unknown_and_acked_messages_are_none(
        self, broker: Broker, make_message: MessageFactory, queue_name: str, other_queue: str
    ) -> None:
        """Nothing is reported for an id never sent, sent elsewhere, or acked."""
        # Given a message acked, and one waiting in another queue
        message = make_message()
        broker.send(message)
        broker.ack(reserve_one(broker, queue_name))
        elsewhere = make_message(queue=other_queue)
        broker.send(elsewhere)
        # Then this queue holds none of them
        assert broker.message_info(queue_name, "no-such-id") is None
        assert broker.message_info(queue_name, message.id) is None
        assert broker.message_info(queue_name, elsewhere.id) is None

    def test_a_ready_message_is_reported_with_its_payload(
        self, broker: Broker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """READY: the decoded message, no deliveries yet."""
        message = make_message(kwargs={"x": 1})
        broker.send(message)
        info = broker.message_info(queue_name, message.id)
        assert info is not None
        assert (info.state, info.queue, info.message, info.deliveries) == (
            "ready",
            queue_name,
            message,
            0,
        )

    def test_a_scheduled_message_reports_its_eta(
        self, broker: Broker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """SCHEDULED: the ETA it waits for."""
        message = make_message()
        eta = clock.now() + 90.0
        broker.schedule(message, eta=eta)
        info = broker.message_info(queue_name, message.id)
        assert info is not None
        assert info.state == "scheduled"
        assert info.eta == pytest.approx(eta)

    def test_a_processing_message_reports_its_owner_and_lease(
        self, broker: Broker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """PROCESSING: the worker holding it, the lease deadline and the delivery count."""
        broker.send(make_message())
        held = reserve_one(broker, queue_name)
        info = broker.message_info(queue_name, held.id)
        assert info is not None
        assert (info.state, info.worker_id, info.deliveries) == ("processing", WORKER, 1)
        assert info.lease_deadline == pytest.approx(held.lease_deadline)

    def test_a_dead_message_reports_reason_counters_and_last_error(
        self, broker: Broker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """DEAD: the reason, when it died, retries and the last error."""
        # Given a message retried once and then buried
        broker.send(make_message())
        broker.retry(reserve_one(broker, queue_name), delay=0.0, error="first failure")
        held = reserve_one(broker, queue_name)
        broker.dead(held, reason="ValueError: bad\nTraceback ...")
        # When it is looked up
        info = broker.message_info(queue_name, held.id)
        # Then everything the broker keeps is reported
        assert info is not None
        assert info.state == "dead"
        assert info.reason == "ValueError: bad\nTraceback ..."
        assert info.died_at == pytest.approx(clock.now())
        assert (info.deliveries, info.retries, info.last_error) == (2, 1, "first failure")
        assert info.worker_id is None

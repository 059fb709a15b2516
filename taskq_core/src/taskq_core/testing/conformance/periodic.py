"""Periodic ticks: ``claim_tick`` sends each tick of a schedule exactly once, atomically."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from taskq_core.capabilities import PeriodicTicks
from taskq_core.testing.conformance.base import (
    ConformanceBase,
    reserve_one,
    run_concurrently,
)

if TYPE_CHECKING:
    from taskq_core.clock import FakeClock
    from taskq_core.testing.conformance.base import Broker, Requires
    from taskq_core.testing.plugin import MessageFactory

#: The schedule most tests claim ticks of, and a second one.
SCHEDULE = "tests.report every=60s"
OTHER_SCHEDULE = "tests.cleanup every=60s"
#: Schedulers racing for one tick.
RACING_SCHEDULERS = 8


class PeriodicTests(ConformanceBase):
    """One message per tick, however many schedulers claim it; the claim and the send are one."""

    requires: ClassVar[Requires] = (PeriodicTicks,)

    def test_two_claims_of_one_tick_send_one_message(
        self, broker: Broker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """The second claim (another scheduler, or a retry after a lost reply) changes nothing."""
        # Given a tick claimed once
        tick = clock.now()
        message = make_message(id="tick-1")
        assert broker.claim_tick(message, schedule=SCHEDULE, tick=tick) is True
        # When the same tick is claimed again, with the same message and with another id
        again = broker.claim_tick(message, schedule=SCHEDULE, tick=tick)
        other = broker.claim_tick(make_message(id="tick-1-b"), schedule=SCHEDULE, tick=tick)
        # Then both are refused and one message is ready
        assert (again, other) == (False, False)
        assert broker.counts(queue_name).ready == 1

    def test_racing_claims_of_one_tick_have_one_winner(
        self, broker: Broker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Schedulers claiming one tick at the same moment: exactly one sends."""
        # Given several schedulers, each with its own message for the same tick
        tick = clock.now()
        messages = [make_message(id=f"racer-{n}") for n in range(RACING_SCHEDULERS)]
        # When they claim it together
        claimed = run_concurrently(
            [
                lambda message=message: broker.claim_tick(message, schedule=SCHEDULE, tick=tick)  # type: ignore[misc]
                for message in messages
            ]
        )
        # Then exactly one claim succeeded and exactly one message is ready
        assert sorted(claimed) == [False] * (RACING_SCHEDULERS - 1) + [True]
        assert broker.counts(queue_name).ready == 1

    def test_each_later_tick_sends_one_message(
        self, broker: Broker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Different ticks are claimed one each, and the last claimed tick is kept."""
        # Given three consecutive ticks
        first = clock.now()
        ticks = [first, first + 60.0, first + 120.0]
        # When each is claimed
        claimed = [
            broker.claim_tick(make_message(), schedule=SCHEDULE, tick=tick) for tick in ticks
        ]
        # Then each sent its message and the latest is the schedule's last tick
        assert claimed == [True, True, True]
        assert broker.counts(queue_name).ready == 3
        assert broker.last_tick(queue_name, SCHEDULE) == ticks[-1]

    def test_a_tick_older_than_the_last_claimed_one_is_refused(
        self, broker: Broker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A late scheduler offering a tick already superseded sends nothing."""
        # Given a later tick claimed first
        tick = clock.now()
        broker.claim_tick(make_message(), schedule=SCHEDULE, tick=tick + 60.0)
        # When an earlier tick is offered
        late = broker.claim_tick(make_message(), schedule=SCHEDULE, tick=tick)
        # Then it is refused and the last tick is unchanged
        assert late is False
        assert broker.counts(queue_name).ready == 1
        assert broker.last_tick(queue_name, SCHEDULE) == tick + 60.0

    def test_schedules_claim_their_ticks_independently(
        self, broker: Broker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """One tick of two schedules is two messages; an unknown schedule has no last tick."""
        # Given two schedules due at the same moment
        tick = clock.now()
        # When each claims it
        claimed = [
            broker.claim_tick(make_message(), schedule=SCHEDULE, tick=tick),
            broker.claim_tick(make_message(), schedule=OTHER_SCHEDULE, tick=tick),
        ]
        # Then both send, and a third schedule never fired
        assert claimed == [True, True]
        assert broker.counts(queue_name).ready == 2
        assert broker.last_tick(queue_name, "tests.never every=60s") is None

    def test_a_claimed_tick_message_is_ready_and_runs(
        self, broker: Broker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """The claim's message is an ordinary READY message: reserved, run and acked."""
        # Given a claimed tick, with a priority
        message = make_message(priority=5)
        broker.claim_tick(message, schedule=SCHEDULE, tick=clock.now())
        # When a worker reserves it and acks it
        delivery = reserve_one(broker, queue_name)
        acked = broker.ack(delivery)
        # Then it was that message, first delivery, and the queue is known and empty
        assert (delivery.message, delivery.token, acked) == (message, 1, True)
        assert queue_name in broker.queues()
        assert broker.counts(queue_name).ready == 0

"""The scheduler, driven by a fake clock: each tick once, catch-up once, nothing lost."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import pytest

from taskq_core import BrokerUnavailable, Message, Taskq, Worker
from taskq_core.periodic import SKIP_AFTER, Scheduler
from taskq_core.periodic.scheduler import MAX_WAIT
from taskq_memory import MemoryBroker

from ..support.waiting import wait_until

if TYPE_CHECKING:
    from taskq_core import FakeClock

#: Wall-clock guard for waits on threads; reached only when something hangs.
GUARD = 30.0
#: A moment on a minute boundary, to start the fake clock at.
MINUTE = 1_700_000_040.0


@pytest.fixture
def clock(clock: FakeClock) -> FakeClock:
    clock.set(MINUTE + 1.0)
    return clock


def ticks_sent(broker: MemoryBroker, queue: str = "default") -> list[float]:
    """The tick of every message in READY, in order (from the tick header)."""
    found = []
    while batch := broker.reserve([queue], worker_id="test", lease=30.0, limit=100):
        found += [float(d.message.headers["taskq-tick"]) for d in batch]
    return found


def schedule_every_minute(app: Taskq, **options: object) -> None:
    @app.periodic(every=60, **options)  # type: ignore[arg-type]
    @app.task(name="tests.minutely")
    def minutely() -> None: ...


def scheduler_of(app: Taskq) -> Scheduler:
    return Scheduler(app, list(app.periodic_schedules.values()), threading.Event())


def test_a_new_schedule_starts_at_its_next_tick(
    app: Taskq, broker: MemoryBroker, clock: FakeClock
) -> None:
    # Given a schedule the broker has never seen, one second past a tick
    schedule_every_minute(app)
    scheduler = scheduler_of(app)
    # When the scheduler looks, then the clock reaches the next tick and it looks twice
    due = scheduler.run_due()
    clock.set(due)
    scheduler.run_due()
    scheduler.run_due()
    # Then the past tick was not sent, the next one was, once, and the next due is a minute on
    assert due == MINUTE + 60.0
    assert ticks_sent(broker) == [MINUTE + 60.0]
    assert scheduler.run_due() == MINUTE + 120.0


def test_several_schedulers_send_each_tick_once(
    app: Taskq, broker: MemoryBroker, clock: FakeClock
) -> None:
    # Given three schedulers (three workers) of one schedule
    schedule_every_minute(app)
    schedulers = [scheduler_of(app) for _ in range(3)]
    for scheduler in schedulers:
        scheduler.run_due()
    # When five ticks pass and every scheduler looks at each
    for _ in range(5):
        clock.advance(60.0)
        for scheduler in schedulers:
            scheduler.run_due()
    # Then each tick was sent exactly once
    assert ticks_sent(broker) == [MINUTE + 60.0 * n for n in range(1, 6)]
    assert broker.last_tick("default", "tests.minutely every=60s") == MINUTE + 300.0


def test_ticks_missed_while_no_scheduler_ran_are_sent_once(
    app: Taskq, broker: MemoryBroker, clock: FakeClock
) -> None:
    # Given a tick sent, then every scheduler gone for an hour
    schedule_every_minute(app)
    first = scheduler_of(app)
    first.run_due()
    clock.set(MINUTE + 60.0)
    first.run_due()
    clock.advance(3600.0 + 5.0)
    # When a new scheduler starts
    scheduler_of(app).run_due()
    # Then the sixty missed ticks became one send, of the latest tick
    assert ticks_sent(broker) == [MINUTE + 60.0, MINUTE + 60.0 + 3600.0]


@pytest.mark.parametrize(("late", "sent"), [(SKIP_AFTER + 1.0, False), (SKIP_AFTER - 1.0, True)])
def test_catch_up_skip_drops_a_missed_tick_but_not_one_on_time(
    app: Taskq, broker: MemoryBroker, clock: FakeClock, late: float, sent: bool
) -> None:
    # Given a daily schedule with catch_up="skip" that fired, and no scheduler for a day
    @app.periodic(every=86400, catch_up="skip", name="daily")
    def daily() -> None: ...

    day = 86400.0 * (int(clock.now() // 86400) + 1)
    clock.set(day)
    first = scheduler_of(app)
    first.run_due()  # a new schedule starts at its next tick
    clock.set(day + 86400.0)
    first.run_due()
    clock.set(day + 2 * 86400.0 + late)
    # When a scheduler starts ``late`` seconds after the next tick
    scheduler_of(app).run_due()
    # Then the tick is sent only when it is not more than SKIP_AFTER late
    expected = [day + 86400.0] + ([day + 2 * 86400.0] if sent else [])
    assert ticks_sent(broker) == expected


class FlakyBroker(MemoryBroker):
    """A memory broker whose next ``claim_tick`` calls fail as if Redis were down."""

    failures = 0

    def claim_tick(self, message: Message, *, schedule: str, tick: float) -> bool:
        if self.failures:
            self.failures -= 1
            raise BrokerUnavailable("redis at 127.0.0.1:6379 is unreachable")
        return super().claim_tick(message, schedule=schedule, tick=tick)


def test_a_failed_claim_is_retried_and_the_tick_is_not_lost(clock: FakeClock) -> None:
    # Given a broker that fails the first two claims
    broker = FlakyBroker(clock=clock)
    app = Taskq(broker)
    schedule_every_minute(app)
    scheduler = scheduler_of(app)
    scheduler.run_due()
    clock.set(MINUTE + 60.0)
    broker.failures = 2
    # When the scheduler looks at the tick three times
    retry_at = [scheduler.run_due(), scheduler.run_due()]
    scheduler.run_due()
    # Then it asked to be woken soon after each failure, and the tick was sent once
    assert retry_at == [MINUTE + 61.0, MINUTE + 61.0]
    assert ticks_sent(broker) == [MINUTE + 60.0]


def test_the_scheduler_thread_follows_the_clock_and_stops_on_the_event(
    app: Taskq, broker: MemoryBroker, clock: FakeClock
) -> None:
    # Given a scheduler thread
    schedule_every_minute(app)
    stop = threading.Event()
    scheduler = Scheduler(app, list(app.periodic_schedules.values()), stop)
    scheduler.start()
    try:
        assert broker.last_tick("default", "tests.minutely every=60s") is None
        # When the clock jumps to the next tick
        clock.set(MINUTE + 60.0)
        # Then the thread notices it within about MAX_WAIT and sends the tick
        wait_until(
            lambda: broker.last_tick("default", "tests.minutely every=60s") is not None,
            what="the scheduler sent the tick",
            timeout=GUARD,
            poll=MAX_WAIT / 10,
        )
    finally:
        stop.set()
        scheduler.join(GUARD)
    assert ticks_sent(broker) == [MINUTE + 60.0]


def test_every_worker_runs_the_scheduler_unless_told_not_to(
    app: Taskq, broker: MemoryBroker, clock: FakeClock
) -> None:
    # Given a periodic task that records its runs, and a worker with and one without a scheduler
    ran = threading.Event()

    @app.periodic(every=60)
    @app.task(name="tests.minutely")
    def minutely() -> None:
        ran.set()

    quiet = Worker(app, scheduler=False, block_timeout=0.1)
    worker = Worker(app, block_timeout=0.1)
    quiet.start()
    worker.start()
    try:
        # When the clock reaches the next tick
        clock.set(MINUTE + 60.0)
        # Then the task runs
        assert ran.wait(GUARD)
    finally:
        worker.stop(timeout=5)
        quiet.stop(timeout=5)
    assert quiet._parts is not None
    assert worker._parts is not None
    assert (quiet._parts.scheduler, worker._parts.scheduler is not None) == (None, True)

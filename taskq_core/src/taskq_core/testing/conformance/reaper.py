"""The reaper after an outage: silence the broker caused is never taken for a worker's death.

``expire_dead_workers(..., reaper=...)`` declares a worker dead only when the calling reaper
watched the whole silence with its own unbroken heartbeats. Every test here uses workers that
heartbeat every :data:`BEAT` seconds and a liveness window of four beats, as the worker does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from taskq_core.capabilities import WorkerRegistry
from taskq_core.schemas import WorkerInfo
from taskq_core.testing.conformance.base import (
    OTHER_WORKER,
    WORKER,
    ConformanceBase,
    reserve_one,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from taskq_core.clock import FakeClock
    from taskq_core.schemas import Delivery
    from taskq_core.testing.conformance.base import Broker, Requires
    from taskq_core.testing.plugin import MessageFactory

#: Heartbeat interval of the workers in these tests, in seconds.
BEAT = 2.0
#: Liveness window: four heartbeats, the worker's default.
WITHIN = 4 * BEAT
#: Longer than the window, shorter than the lease: the outage that must not kill anyone.
OUTAGE = 10.0
#: The lease of the held messages, longer than the outage.
LEASE = 30.0
#: The reaper's worker id.
REAPER = "reaper-worker"


def beating(worker_id: str, queue: str) -> WorkerInfo:
    """A worker that says it heartbeats every :data:`BEAT` seconds."""
    return WorkerInfo(worker_id=worker_id, queues=(queue,), heartbeat_interval=BEAT)


def run_fleet(
    broker: Broker,
    clock: FakeClock,
    queue: str,
    seconds: float,
    held: Sequence[Delivery] = (),
) -> None:
    """Every worker and the reaper heartbeat every beat for ``seconds`` (the broker is up).

    Each beat also renews the leases of ``held``, as a worker's heartbeat does.
    """
    for _ in range(round(seconds / BEAT)):
        for worker_id in (WORKER, OTHER_WORKER, REAPER):
            broker.send_heartbeat(beating(worker_id, queue))
        if held:
            assert all(broker.extend_lease(held, lease=LEASE))
        clock.advance(BEAT)


class ReaperTests(ConformanceBase):
    """Dead-worker detection by a worker's reaper, around broker outages."""

    requires: ClassVar[Requires] = (WorkerRegistry,)

    def test_outage_shorter_than_the_lease_kills_no_live_worker(
        self, broker: Broker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """The first reaper back after an outage waits for the silenced workers to return."""
        # Given two workers, each holding a message, and a reaper, all heartbeating
        held = []
        for worker_id in (WORKER, OTHER_WORKER):
            broker.send(make_message())
            held.append(reserve_one(broker, queue_name, worker_id=worker_id, lease=LEASE))
        run_fleet(broker, clock, queue_name, 3 * WITHIN, held)
        # When the broker is out for longer than the window, and the reaper is back first
        clock.advance(OUTAGE)
        broker.send_heartbeat(beating(REAPER, queue_name))
        first = broker.expire_dead_workers(queue_name, within=WITHIN, reaper=REAPER)
        # And the workers heartbeat again a beat later, while the reaper keeps reaping
        clock.advance(BEAT)
        broker.send_heartbeat(beating(REAPER, queue_name))
        second = broker.expire_dead_workers(queue_name, within=WITHIN, reaper=REAPER)
        for worker_id in (WORKER, OTHER_WORKER):
            broker.send_heartbeat(beating(worker_id, queue_name))
        run_fleet(broker, clock, queue_name, 2 * WITHIN, held)
        later = broker.expire_dead_workers(queue_name, within=WITHIN, reaper=REAPER)
        # Then nobody was declared dead, and both messages are still held
        assert (first, second, later) == ([], [], [])
        assert not broker.recover_expired(queue_name)
        assert broker.counts(queue_name).processing == 2

    def test_reaper_whose_own_heartbeat_is_stale_declares_nobody_dead(
        self, broker: Broker, clock: FakeClock, queue_name: str
    ) -> None:
        """A reaper call that waited out an outage finds its own heartbeat old and does nothing."""
        # Given a fleet that heartbeated for a while
        run_fleet(broker, clock, queue_name, 3 * WITHIN)
        # When the broker runs a reaper's call after an outage, before any heartbeat
        clock.advance(OUTAGE)
        expired = broker.expire_dead_workers(queue_name, within=WITHIN, reaper=REAPER)
        # Then nobody is declared dead
        assert expired == []
        assert sorted(w.worker_id for w in broker.list_alive_workers(within=1e6)) == sorted(
            [WORKER, OTHER_WORKER, REAPER]
        )

    def test_worker_silent_for_the_window_of_a_watching_reaper_is_dead(
        self, broker: Broker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A worker that stays silent while the reaper watches is dead once the window passes."""
        # Given a worker holding a message that stops heartbeating after an outage
        broker.send(make_message())
        held = [reserve_one(broker, queue_name, worker_id=WORKER, lease=LEASE)]
        run_fleet(broker, clock, queue_name, 3 * WITHIN, held)
        clock.advance(OUTAGE)
        # When the reaper heartbeats for a whole window after the outage
        expired: list[list[str]] = []
        for _ in range(round(WITHIN / BEAT) + 1):
            broker.send_heartbeat(beating(REAPER, queue_name))
            broker.send_heartbeat(beating(OTHER_WORKER, queue_name))
            expired.append(broker.expire_dead_workers(queue_name, within=WITHIN, reaper=REAPER))
            clock.advance(BEAT)
        # Then the silent worker is declared dead once, at the end, and its message comes back
        assert expired[:-1] == [[]] * (len(expired) - 1)
        assert expired[-1] == [WORKER]
        assert len(broker.recover_expired(queue_name).requeued) == 1

    def test_new_reaper_waits_one_window_before_judging(
        self, broker: Broker, clock: FakeClock, queue_name: str
    ) -> None:
        """A reaper that just started has not watched anyone's silence yet."""
        # Given a worker long silent
        broker.send_heartbeat(beating(WORKER, queue_name))
        clock.advance(3 * WITHIN)
        # When a reaper starts and reaps at once, then after a window of its own heartbeats
        broker.send_heartbeat(beating(REAPER, queue_name))
        at_start = broker.expire_dead_workers(queue_name, within=WITHIN, reaper=REAPER)
        for _ in range(round(WITHIN / BEAT) + 1):
            clock.advance(BEAT)
            broker.send_heartbeat(beating(REAPER, queue_name))
        after = broker.expire_dead_workers(queue_name, within=WITHIN, reaper=REAPER)
        # Then the silent worker is declared dead only the second time
        assert (at_start, after) == ([], [WORKER])

    def test_without_a_reaper_silence_alone_decides(
        self, broker: Broker, clock: FakeClock, queue_name: str
    ) -> None:
        """An operator's call (no reaper) declares dead whoever is silent past the window."""
        # Given a fleet back from an outage, only the reaper heartbeating again
        run_fleet(broker, clock, queue_name, 3 * WITHIN)
        clock.advance(OUTAGE)
        broker.send_heartbeat(beating(REAPER, queue_name))
        # When silent workers are expired without naming a reaper
        expired = broker.expire_dead_workers(queue_name, within=WITHIN)
        # Then the two silent ones are dead
        assert expired == sorted([WORKER, OTHER_WORKER])

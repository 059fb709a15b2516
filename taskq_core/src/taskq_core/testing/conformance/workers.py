"""Worker liveness: heartbeats, the alive list, and handing back a dead worker's leases."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import pytest

from taskq_core.capabilities import WorkerRegistry
from taskq_core.schemas import WorkerInfo
from taskq_core.testing.conformance.base import (
    OTHER_WORKER,
    WORKER,
    ConformanceBase,
    reserve_one,
)

if TYPE_CHECKING:
    from taskq_core.clock import FakeClock
    from taskq_core.testing.conformance.base import Broker, Requires
    from taskq_core.testing.plugin import MessageFactory

#: Liveness window most tests use, in seconds.
WINDOW = 30.0
#: A lease long enough that only dead-worker detection, not expiry, can end it.
LONG_LEASE = 3600.0


def worker_info(worker_id: str, *queues: str) -> WorkerInfo:
    """A worker's self-description with distinctive fields, to check they are kept."""
    return WorkerInfo(
        worker_id=worker_id,
        hostname="host-1",
        pid=4242,
        queues=queues,
        concurrency=8,
        pool="threads",
        started_at=1_600_000_000.0,
        version="9.9.9",
    )


def alive_ids(broker: Broker, *, within: float = WINDOW, queue: str | None = None) -> list[str]:
    """Ids of the alive workers, as listed (duplicates kept, to catch them)."""
    return [w.worker_id for w in broker.list_alive_workers(within=within, queue=queue)]


class WorkerTests(ConformanceBase):
    """Workers are alive while they heartbeat; a silent one's work is handed back."""

    requires: ClassVar[Requires] = (WorkerRegistry,)

    def test_heartbeat_makes_a_worker_alive_with_last_seen(
        self, broker: Broker, clock: FakeClock, queue_name: str
    ) -> None:
        """A heartbeat lists the worker as it described itself, ``last_seen`` set to now."""
        # Given a worker's self-description
        info = worker_info(WORKER, queue_name)
        # When it heartbeats
        broker.send_heartbeat(info)
        # Then it is alive, its fields kept and last_seen filled in
        (alive,) = broker.list_alive_workers(within=WINDOW, queue=queue_name)
        assert alive.last_seen == pytest.approx(clock.now(), abs=1e-3)
        assert alive.model_copy(update={"last_seen": 0.0}) == info

    def test_silent_worker_drops_out_of_the_window(
        self, broker: Broker, clock: FakeClock, queue_name: str
    ) -> None:
        """A worker is listed while its last heartbeat is within the window, not after."""
        # Given a worker that heartbeat once
        broker.send_heartbeat(worker_info(WORKER, queue_name))
        # When time passes inside, then beyond, the window
        clock.advance(WINDOW - 1.0)
        inside = alive_ids(broker, queue=queue_name)
        clock.advance(2.0)
        beyond = alive_ids(broker, queue=queue_name)
        # Then it is alive first and gone after
        assert (inside, beyond) == ([WORKER], [])

    def test_heartbeat_refreshes_last_seen(
        self, broker: Broker, clock: FakeClock, queue_name: str
    ) -> None:
        """Every heartbeat moves ``last_seen`` to the current time."""
        # Given a worker that heartbeat 20 s ago
        broker.send_heartbeat(worker_info(WORKER, queue_name))
        clock.advance(20.0)
        # When it heartbeats again and 20 more seconds pass
        broker.send_heartbeat(worker_info(WORKER, queue_name))
        clock.advance(20.0)
        # Then it is still alive in a 30 s window, seen 20 s ago
        (alive,) = broker.list_alive_workers(within=WINDOW, queue=queue_name)
        assert alive.last_seen == pytest.approx(clock.now() - 20.0, abs=1e-3)

    def test_alive_workers_filter_by_queue(
        self, broker: Broker, queue_name: str, other_queue: str
    ) -> None:
        """``queue=`` lists only the workers consuming that queue."""
        # Given one worker per queue
        broker.send_heartbeat(worker_info(WORKER, queue_name))
        broker.send_heartbeat(worker_info(OTHER_WORKER, other_queue))
        # When the alive workers of the first queue are listed
        listed = alive_ids(broker, queue=queue_name)
        # Then only its worker is there
        assert listed == [WORKER]

    def test_alive_workers_of_every_queue_list_each_worker_once(
        self, broker: Broker, queue_name: str, other_queue: str
    ) -> None:
        """Without ``queue``, a worker of several queues appears once."""
        # Given a worker of two queues and a worker of one
        broker.send_heartbeat(worker_info(WORKER, queue_name, other_queue))
        broker.send_heartbeat(worker_info(OTHER_WORKER, other_queue))
        # When every alive worker is listed
        listed = alive_ids(broker)
        # Then each of ours is there exactly once
        assert sorted(w for w in listed if w in (WORKER, OTHER_WORKER)) == [WORKER, OTHER_WORKER]

    def test_forgotten_worker_is_no_longer_listed(self, broker: Broker, queue_name: str) -> None:
        """A worker that shuts down cleanly removes itself from every listing."""
        # Given two alive workers
        info = worker_info(WORKER, queue_name)
        broker.send_heartbeat(info)
        broker.send_heartbeat(worker_info(OTHER_WORKER, queue_name))
        # When one is forgotten
        broker.forget_worker(info)
        # Then only the other is listed, per queue and overall
        assert alive_ids(broker, queue=queue_name) == [OTHER_WORKER]
        assert WORKER not in alive_ids(broker)

    def test_expire_dead_workers_names_only_the_silent(
        self, broker: Broker, clock: FakeClock, queue_name: str
    ) -> None:
        """Workers silent longer than ``within`` are declared dead and removed; others stay."""
        # Given a worker silent for 60 s and one heard from 10 s ago
        broker.send_heartbeat(worker_info(WORKER, queue_name))
        clock.advance(50.0)
        broker.send_heartbeat(worker_info(OTHER_WORKER, queue_name))
        clock.advance(10.0)
        # When workers silent for over 30 s are expired
        expired = broker.expire_dead_workers(queue_name, within=WINDOW)
        # Then the silent one is named and gone, even from a wide listing
        assert expired == [WORKER]
        assert alive_ids(broker, within=1e6, queue=queue_name) == [OTHER_WORKER]

    def test_dead_workers_messages_are_handed_back_by_the_next_reaper_pass(
        self, broker: Broker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """A dead worker's leases end at once; a live worker's long leases are left alone."""
        # Given two workers holding one message each on hour-long leases
        dead_one, live_one = make_message(), make_message()
        broker.send(dead_one)
        reserve_one(broker, queue_name, worker_id=WORKER, lease=LONG_LEASE)
        broker.send(live_one)
        reserve_one(broker, queue_name, worker_id=OTHER_WORKER, lease=LONG_LEASE)
        broker.send_heartbeat(worker_info(WORKER, queue_name))
        clock.advance(50.0)
        broker.send_heartbeat(worker_info(OTHER_WORKER, queue_name))
        clock.advance(10.0)
        # When the silent worker is expired and the reaper runs
        broker.expire_dead_workers(queue_name, within=WINDOW)
        report = broker.recover_expired(queue_name)
        # Then only the dead worker's message came back
        assert report.requeued == (dead_one.id,)
        counts = broker.counts(queue_name)
        assert (counts.ready, counts.processing) == (1, 1)

    def test_dead_worker_counts_as_a_lost_lease(
        self, broker: Broker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Dead-worker recovery is the same loss as an expiry: it uses up ``max_deliveries``."""
        # Given a message allowed one lost lease, held by a worker that went silent
        message = make_message(max_deliveries=1)
        broker.send(message)
        reserve_one(broker, queue_name, worker_id=WORKER, lease=LONG_LEASE)
        broker.send_heartbeat(worker_info(WORKER, queue_name))
        clock.advance(60.0)
        # When the worker is expired and the reaper runs
        broker.expire_dead_workers(queue_name, within=WINDOW)
        report = broker.recover_expired(queue_name)
        # Then the message is buried for its lost lease
        assert report.dead == (message.id,)

"""``rate_limit=``: a limit shared by every worker, that neither holds a slot nor uses retries.

The distributed test runs four real worker processes (``fleet_worker.py``) on one real
redis-server and checks the grants they recorded: no one-second window can have held more
grants than the limit. Each grant is known only to lie between the moment its script was sent
and the moment its answer arrived, so the check counts, per window, the grants whose whole
interval lies inside it: a count above the limit proves a violation however late a loaded
machine schedules the workers, and a count within it never depends on that lateness.

The other two run one in-process worker on a memory broker with a fake clock, so "later" is
when the test moves the clock, and the order of events is deterministic.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import redis

from taskq_core import Taskq
from taskq_memory import MemoryBroker
from taskq_redis import RedisBroker

from ..support.processes import WorkerProcess
from ..support.waiting import WAIT_TIMEOUT, wait_until

if TYPE_CHECKING:
    from taskq_core import FakeClock

    from ..support.recording import TaskEvents

FLEET_WORKER = Path(__file__).with_name("fleet_worker.py")
#: The limit ``fleet_worker.py`` puts on ``features.limited``: starts per second.
LIMIT_PER_SECOND = 20
#: Messages sent to the fleet: ten seconds' worth at the limit.
SENT = 200
#: Pause between two looks at the fleet's records: each look reads and decodes them all, CPU
#: the measured workers share.
REDIS_POLL = 0.05


class Fleet:
    """Worker processes of one test on the real server, and what they recorded."""

    def __init__(self, url: str, prefix: str, queue: str, log_dir: Path) -> None:
        self.url = url
        self.prefix = prefix
        self.queue = queue
        self.log_dir = log_dir
        self.base = f"{prefix}:test"
        self.redis = redis.Redis.from_url(url, decode_responses=True)
        self.workers: list[WorkerProcess] = []

    def start(self, count: int) -> None:
        """Start ``count`` workers and return once all are consuming."""
        for _ in range(count):
            name = f"{self.prefix}-w{len(self.workers) + 1}"
            argv = [sys.executable, str(FLEET_WORKER), "--url", self.url, "--prefix", self.prefix]
            argv += ["--queue", self.queue, "--name", name]
            self.workers.append(WorkerProcess.start(name, argv, self.log_dir))
        wait_until(
            lambda: self.redis.scard(f"{self.base}:ready") == len(self.workers),
            what=f"{len(self.workers)} workers are consuming",
            describe=self.describe,
            poll=REDIS_POLL,
        )

    def records(self, kind: str) -> list[dict]:
        return [json.loads(entry) for entry in self.redis.lrange(f"{self.base}:{kind}", 0, -1)]

    def describe(self) -> str:
        dead = [w for w in self.workers if not w.alive]
        starts = self.redis.llen(f"{self.base}:starts")
        return "\n".join([f"{starts} starts recorded", *(w.log_tail() for w in dead)])

    def close(self) -> None:
        for worker in self.workers:
            if worker.alive:
                worker.signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.process.wait(10)
            except subprocess.TimeoutExpired:
                worker.kill()
        self.redis.close()


@pytest.fixture
def fleet(
    redis_url: str, redis_client: redis.Redis, prefix: str, queue_name: str, tmp_path: Path
) -> Iterator[Fleet]:
    """Worker processes on the real server; stopped (and the test's keys deleted) afterwards."""
    fleet = Fleet(redis_url, prefix, queue_name, tmp_path)
    yield fleet
    print(fleet.describe())  # shown by pytest only when the test failed
    fleet.close()


def busiest_second(grants: list[tuple[float, float]]) -> tuple[int, float]:
    """The most grants surely inside one window ``[t, t + 1)``, and that window's ``t``.

    ``grants`` are ``(asked, answered)`` intervals, each holding its grant's server time. A
    grant is surely inside the window when its whole interval is; windows starting at each
    ``asked`` are enough, since moving a window's start up to the next ``asked`` loses no
    interval it surely holds.
    """
    return max((sum(1 for a, b in grants if t <= a and b < t + 1.0), t) for t, _ in sorted(grants))


@pytest.mark.redis
@pytest.mark.slow
def test_four_worker_processes_together_start_at_most_the_limit_in_any_second(
    fleet: Fleet, redis_url: str, prefix: str, queue_name: str
):
    # Given four worker processes on one redis-server, four slots each
    fleet.start(4)

    # When 200 calls of a task limited to 20/s are sent at once
    producer = Taskq(RedisBroker.from_url(redis_url, prefix=prefix), default_queue=queue_name)

    @producer.task(name="features.limited")
    def limited(n: int) -> None:
        """A stub: the workers have the real task."""

    limited.delay_many([(n,) for n in range(SENT)])
    wait_until(
        lambda: len(fleet.records("acked")) == SENT,
        what=f"all {SENT} calls ran and were acked",
        timeout=120,
        describe=fleet.describe,
        poll=REDIS_POLL,
    )
    producer.broker.close()

    # Then each call ran once after one grant, and no one-second window held more than 20
    starts = fleet.records("starts")
    assert sorted(record["n"] for record in starts) == list(range(SENT))
    grants = [(record["asked"], record["answered"]) for record in fleet.records("grants")]
    assert len(grants) == SENT
    most, at = busiest_second(grants)
    assert most <= LIMIT_PER_SECOND, f"{most} grants in the second from {at}"

    # And waiting for a grant never used a retry (the task allows none)
    assert {record["retries"] for record in fleet.records("acked")} == {0}


#: Worker timings for a fake clock the test moves by minutes: leases and the worker's own
#: liveness outlast every jump, so the worker never takes itself for dead.
FAKE_CLOCK_WORKER = {"visibility_timeout": 10_000.0, "worker_timeout": 100_000.0}


@pytest.fixture
def fake_clock_app(clock: FakeClock) -> Taskq:
    """An app on a memory broker whose time moves only when the test moves ``clock``."""
    return Taskq(MemoryBroker(clock=clock))


def test_a_task_waiting_for_a_grant_leaves_the_worker_slot_to_other_tasks(
    fake_clock_app: Taskq, make_worker, events: TaskEvents
):
    # Given three calls of a task limited to 1 a minute, then five unlimited calls behind them
    app = fake_clock_app
    ran: list[str] = []

    @app.task(name="features.scarce", rate_limit="1/m")
    def scarce(label: str) -> None:
        ran.append(label)

    @app.task(name="features.plentiful")
    def plentiful(label: str) -> None:
        ran.append(label)

    for label in ["L0", "L1", "L2"]:
        scarce.delay(label)
    for n in range(5):
        plentiful.delay(f"U{n}")

    # When a worker with a single slot consumes the queue
    make_worker(app, pool="solo", **FAKE_CLOCK_WORKER)
    wait_until(lambda: len(events.succeeded) == 6)

    # Then one limited call ran, the unlimited ones all ran after it on the same slot,
    # and the two other limited calls wait in SCHEDULED, not in the worker
    assert ran == ["L0", "U0", "U1", "U2", "U3", "U4"]
    wait_until(lambda: app.broker.counts("default").processing == 0)
    counts = app.broker.counts("default")
    assert (counts.ready, counts.scheduled, counts.dead) == (0, 2, 0)


def test_waiting_for_a_grant_uses_no_retries(
    fake_clock_app: Taskq, clock: FakeClock, make_worker, events: TaskEvents
):
    # Given three calls of a task limited to 1 a minute that may not retry at all
    app = fake_clock_app

    @app.task(name="features.scarce", rate_limit="1/m", max_retries=0)
    def scarce(label: str) -> str:
        return label

    handles = [scarce.delay(label) for label in ["L0", "L1", "L2"]]
    make_worker(app, **FAKE_CLOCK_WORKER)
    wait_until(lambda: len(events.succeeded) == 1)

    # When a little over a minute passes twice, each time letting one more call through
    for granted in (2, 3):
        wait_until(lambda: app.broker.counts("default").scheduled == 3 - len(events.succeeded))
        clock.advance(61.0)
        wait_until(lambda g=granted: len(events.succeeded) == g)

    # Then every call succeeded with its retries untouched, though two were postponed
    assert [h.get(timeout=WAIT_TIMEOUT) for h in handles] == ["L0", "L1", "L2"]
    assert [events.succeeded[h.id].retries for h in handles] == [0, 0, 0]
    assert app.broker.counts("default").dead == 0

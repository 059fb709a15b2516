"""``Taskq(queue_limits=...)``: a queue's cap on running messages holds across workers."""

from __future__ import annotations

import threading

from taskq_core import Taskq
from taskq_core.broker import BaseBroker

from ..support.waiting import WAIT_TIMEOUT, wait_until

CAP = 2
TASKS = 10


class Occupancy:
    """How many tasks are inside right now, and the most there ever were."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.inside = 0
        self.most = 0
        self.done = 0

    def enter(self) -> None:
        with self.lock:
            self.inside += 1
            self.most = max(self.most, self.inside)

    def leave(self) -> None:
        with self.lock:
            self.inside -= 1
            self.done += 1


def test_two_workers_never_run_more_than_the_queue_cap_at_once(broker: BaseBroker, make_worker):
    # Given an app capping "capped" at 2 running messages, and 10 tasks there that each stay
    # inside until the test lets one out
    app = Taskq(broker, queue_limits={"capped": CAP})
    occupancy = Occupancy()
    exits = threading.Semaphore(0)

    @app.task(name="features.occupy", queue="capped")
    def occupy() -> None:
        occupancy.enter()
        try:
            assert exits.acquire(timeout=WAIT_TIMEOUT), "the test never let this task out"
        finally:
            occupancy.leave()

    occupy.delay_many([() for _ in range(TASKS)])

    # When two workers with 4 slots each consume it, and the test lets one task out each time
    # the queue is full again
    make_worker(app, queues=["capped"], concurrency=4)
    make_worker(app, queues=["capped"], concurrency=4)
    for released in range(TASKS):
        wait_until(lambda r=released: occupancy.inside >= min(CAP, TASKS - r))
        exits.release()
    wait_until(lambda: occupancy.done == TASKS)

    # Then all ran, two at a time at most, although 8 slots were free
    assert occupancy.most == CAP

"""A paused queue's messages wait while a real worker runs another queue's; resume starts them."""

from __future__ import annotations

import threading

from taskq_core import Taskq
from taskq_core.broker import BaseBroker

from ..support.waiting import wait_until

CALLS = 3


def test_a_worker_skips_a_paused_queue_and_starts_it_on_resume(broker: BaseBroker, make_worker):
    # Given an app with a task in "held" and one in "open", and "held" paused
    app = Taskq(broker)
    started: dict[str, int] = {"held": 0, "open": 0}
    lock = threading.Lock()

    def count(queue: str) -> None:
        with lock:
            started[queue] += 1

    @app.task(name="features.held", queue="held")
    def held() -> None:
        count("held")

    @app.task(name="features.open", queue="open")
    def open_() -> None:
        count("open")

    assert app.pause_queue("held")
    for _ in range(CALLS):
        held.delay()
        open_.delay()

    # When a worker consumes both queues, "held" listed first
    make_worker(app, queues=["held", "open"], concurrency=2)

    # Then it runs every "open" message and starts none of the paused ones
    wait_until(lambda: started["open"] == CALLS)
    assert started["held"] == 0
    assert broker.counts("held").ready == CALLS

    # And when "held" is resumed, its messages start without the worker being told
    assert app.resume_queue("held")
    wait_until(lambda: started["held"] == CALLS)

"""Which message runs next, end to end: priorities, routes and weighted queues.

Every test sends its whole backlog before the worker starts, and the worker runs one task at a
time (solo pool), so the recorded order is the order the worker took the messages in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskq_core import Taskq

from ..support.recording import Labels
from ..support.waiting import wait_until

if TYPE_CHECKING:
    from taskq_core import BaseBroker

    from ..support.recording import TaskEvents


def test_higher_priority_messages_run_first_and_fifo_within_a_level(app: Taskq, make_worker):
    # Given a backlog sent at mixed priorities, no worker running yet
    order = Labels()

    @app.task(name="features.step")
    def step(label: str) -> None:
        order.add(label)

    sent = [("a", 0), ("b", 5), ("c", 9), ("d", 5), ("e", 0), ("f", 9), ("g", 5)]
    for label, priority in sent:
        step.apply_async((label,), priority=priority)

    # When a solo worker drains it
    make_worker(app, pool="solo")
    wait_until(lambda: len(order) == len(sent))

    # Then priority 9 ran first, then 5, then 0, each level in the order it was sent
    assert order.labels == ["c", "f", "b", "d", "g", "a", "e"]


def test_a_task_matching_a_route_goes_to_the_routed_queue_and_its_worker_runs_it(
    broker: BaseBroker, make_worker, events: TaskEvents
):
    # Given an app routing reports.* to "slow", and a report task that names no queue
    app = Taskq(broker, routes={"reports.*": "slow"})

    @app.task(name="reports.daily")
    def daily() -> str:
        return "report"

    @app.task(name="features.other")
    def other() -> str:
        return "other"

    # When both are sent
    report = daily.delay()
    plain = other.delay()

    # Then the report waits in "slow" and the other task in the default queue
    assert report.queue == "slow"
    assert broker.counts("slow").ready == 1
    assert broker.counts("default").ready == 1

    # And a worker of "slow" alone runs the report, not the other task
    make_worker(app, queues=["slow"])
    assert report.get(timeout=30) == "report"
    assert plain.id not in events.started
    assert broker.counts("default").ready == 1


def test_weighted_queues_interleave_a_backlog_by_weight(app: Taskq, make_worker):
    # Given a backlog of 12 messages in "high" and 4 in "low"
    order = Labels()

    @app.task(name="features.tagged")
    def tagged(label: str) -> None:
        order.add(label)

    for n in range(12):
        tagged.apply_async((f"h{n}",), queue="high")
    for n in range(4):
        tagged.apply_async((f"l{n}",), queue="low")

    # When one worker takes them one at a time with -Q high:3,low:1
    make_worker(app, queues=["high:3", "low:1"], pool="solo", prefetch=0)
    wait_until(lambda: len(order) == 16)

    # Then "low" is served once in every four reserves, not after "high" is empty,
    # and each queue stays FIFO
    assert order.labels == [
        "h0", "h1", "l0", "h2",
        "h3", "h4", "l1", "h5",
        "h6", "h7", "l2", "h8",
        "h9", "h10", "l3", "h11",
    ]  # fmt: skip

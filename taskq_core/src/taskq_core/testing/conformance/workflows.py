"""Workflows: a step's follow-up and its chord join happen in the same atomic step as its ack.

Chains, groups and chords are sent with the canvas API of a :class:`~taskq_core.app.Taskq` on
the broker under test and run by the worker's own :class:`DeliveryRunner`, one delivery at a
time, so every broker call is the one a real worker makes. The at-least-once cases (a member
delivered twice, an ack retried after a lost reply, a member that dies and is requeued) drive
the broker directly. Skipped, loudly, for a backend that is not a ``Workflows``.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from taskq_core.app import Taskq
from taskq_core.canvas import chain, chord, group
from taskq_core.canvas.nodes import flow_of, on_failure, on_success
from taskq_core.capabilities import ResultStore, Workflows
from taskq_core.errors import TaskError
from taskq_core.progress import TaskState
from taskq_core.schemas import TaskResult
from taskq_core.testing.conformance.base import (
    LEASE,
    OTHER_WORKER,
    WORKER,
    ConformanceBase,
    lose_lease,
    reserve_one,
)
from taskq_core.worker.runner import DeliveryRunner

if TYPE_CHECKING:
    from taskq_core.clock import FakeClock
    from taskq_core.schemas import Delivery
    from taskq_core.testing.conformance.base import Broker, Requires

#: Most deliveries one test runs; reached only when a workflow loops.
_MAX_STEPS = 10_000


class Flow:
    """An app with arithmetic tasks on one queue, and a loop that runs what is READY."""

    def __init__(self, broker: Broker, queue: str) -> None:
        self.broker = broker
        self.queue = queue
        self.app = app = Taskq(broker, default_queue=queue)
        self.calls: Counter[str] = Counter()
        self.seen: list[Any] = []

        @app.task
        def add(x: int, y: int) -> int:
            return x + y

        @app.task
        def mul(x: int, y: int) -> int:
            return x * y

        @app.task
        def tsum(values: list[int]) -> int:
            self.calls["tsum"] += 1
            self.seen.append(values)
            return sum(values)

        @app.task(max_retries=0)
        def boom(x: int) -> int:
            raise ValueError(f"boom {x}")

        @app.task
        def note(*args: Any) -> None:
            self.calls["note"] += 1
            self.seen.append(list(args))

        self.add, self.mul, self.tsum, self.boom, self.note = add, mul, tsum, boom, note
        self.runner = DeliveryRunner(app, broker)

    def run(self) -> int:
        """Run READY deliveries until none is left; returns how many ran."""
        ran = 0
        while ran < _MAX_STEPS:
            found = self.broker.reserve([self.queue], worker_id=WORKER, lease=LEASE, limit=10)
            if not found:
                return ran
            for delivery in found:
                self.runner.run(delivery)
                ran += 1
        pytest.fail(f"workflow still running after {_MAX_STEPS} deliveries")

    def success(self, delivery: Delivery, value: Any) -> bool:
        """Ack ``delivery`` as a worker whose task returned ``value``."""
        flow = flow_of(delivery.message)
        assert flow is not None
        then = on_success(flow, delivery, value, self.app.clock.now())
        result = TaskResult(id=delivery.id, status="SUCCESS", value=value)
        return self.broker.ack_and_continue(delivery, then, result=result)

    def death(self, delivery: Delivery) -> bool:
        """Bury ``delivery`` as a worker whose task failed for good."""
        flow = flow_of(delivery.message)
        assert flow is not None
        then = on_failure(flow, delivery, "ValueError: boom", self.app.clock.now())
        return self.broker.dead_and_continue(delivery, then, reason="ValueError: boom")


class WorkflowTests(ConformanceBase):
    """``ack_and_continue``, ``dead_and_continue`` and ``start_flow``."""

    requires: ClassVar[Requires] = (Workflows, ResultStore)

    @pytest.fixture
    def flow(self, broker: Broker, queue_name: str) -> Flow:
        return Flow(broker, queue_name)

    def test_chain_passes_each_result_as_the_next_first_argument(self, flow: Flow) -> None:
        result = chain(flow.add.s(2, 2), flow.mul.s(4), flow.add.s(1), flow.add.si(5, 5)).delay()
        assert flow.run() == 4
        assert result.get(timeout=0) == 10
        steps = []
        handle: Any = result
        while handle is not None:
            steps.append(handle.get(timeout=0))
            handle = handle.parent
        assert steps == [10, 17, 16, 4]

    def test_group_results_come_in_call_order(self, flow: Flow) -> None:
        handle = group(flow.mul.s(i, 3) for i in range(20)).delay()
        assert flow.run() == 20
        assert handle.get(timeout=0) == [3 * i for i in range(20)]
        assert handle.completed_count() == 20

    def test_chord_callback_gets_member_results_in_call_order(self, flow: Flow) -> None:
        result = chord((flow.add.s(i, 100) for i in range(25)), flow.tsum.s()).delay()
        assert flow.run() == 26
        assert flow.seen == [[i + 100 for i in range(25)]]
        assert result.get(timeout=0) == sum(i + 100 for i in range(25))

    def test_empty_chord_calls_back_at_once_with_no_results(self, flow: Flow) -> None:
        result = chord([], flow.tsum.s()).delay()
        assert flow.run() == 1
        assert result.get(timeout=0) == 0

    def test_nested_forms(self, flow: Flow) -> None:
        add, mul, tsum = flow.add, flow.mul, flow.tsum
        in_chain = chain(add.s(1, 1), group(mul.s(i) for i in range(4)), tsum.s(), mul.s(10))
        chains_in_chord = chord([add.s(i, i) | mul.s(3) for i in range(3)], tsum.s() | add.s(1))
        chains_in_group = group(add.s(i, 1) | mul.s(2) for i in range(3))
        handles = [in_chain.delay(), chains_in_chord.delay(), chains_in_group.delay()]
        flow.run()
        assert handles[0].get(timeout=0) == 10 * sum(2 * i for i in range(4))
        assert handles[1].get(timeout=0) == sum(6 * i for i in range(3)) + 1
        assert handles[2].get(timeout=0) == [2 * (i + 1) for i in range(3)]

    def test_member_delivered_twice_counts_once(
        self, flow: Flow, broker: Broker, clock: FakeClock
    ) -> None:
        result = chord([flow.add.s(1, 1), flow.add.s(2, 2)], flow.tsum.s()).delay()
        first = reserve_one(broker, flow.queue)
        lose_lease(broker, clock, first)
        again = reserve_one(broker, flow.queue, worker_id=OTHER_WORKER)
        assert again.id == first.id
        assert not flow.success(first, 2)  # the stale delivery is fenced out
        assert flow.success(again, 2)
        assert flow.success(again, 2)  # a call retried after a lost reply applies nothing
        other = reserve_one(broker, flow.queue)
        assert flow.success(other, 4)
        assert flow.run() == 1
        assert flow.calls["tsum"] == 1
        assert result.get(timeout=0) == 6

    def test_lost_lease_sends_no_follow_up(
        self, flow: Flow, broker: Broker, clock: FakeClock
    ) -> None:
        chain(flow.add.s(1, 1), flow.mul.s(2)).delay()
        first = reserve_one(broker, flow.queue)
        lose_lease(broker, clock, first)
        assert not flow.success(first, 2)
        again = reserve_one(broker, flow.queue)
        assert again.id == first.id
        assert broker.reserve([flow.queue], worker_id=WORKER, lease=LEASE) == []

    def test_dead_member_fails_the_chord_once_and_requeue_completes_it(
        self, flow: Flow, broker: Broker
    ) -> None:
        members = [flow.add.s(1, 1), flow.boom.s(1), flow.boom.s(2)]
        result = chord(members, flow.tsum.s()).set(link_error=flow.note.s()).delay()
        assert flow.run() == 4  # three members, one errback; no callback
        dead = [letter.id for letter in broker.list_dead(flow.queue)]
        assert sorted(dead) == sorted([result.parent[1].id, result.parent[2].id])
        assert flow.calls == Counter({"note": 1})
        failure = result.get(timeout=0, propagate=False)
        assert isinstance(failure, TaskError)
        assert flow.seen[0][0] in str(failure)
        assert flow.seen[0][0] in dead
        # Both dead members are requeued and, this time, succeed.
        assert broker.requeue_dead(flow.queue) == 2
        for _ in range(2):
            assert flow.success(reserve_one(broker, flow.queue), 10)
        assert result.status == "PENDING"  # the failure is gone with the callback's send
        assert flow.run() == 1
        assert flow.seen[-1] == [2, 10, 10]
        assert result.get(timeout=0) == 22
        assert flow.calls["tsum"] == 1

    def test_dead_chain_step_fails_the_chain_and_runs_link_error(self, flow: Flow) -> None:
        result = (
            chain(flow.add.s(1, 1), flow.boom.s(), flow.add.s(1))
            .set(link_error=flow.note.si("failed"))
            .delay()
        )
        assert flow.run() == 3  # add, boom, the errback
        assert flow.seen == [["failed"]]
        failure = result.get(timeout=0, propagate=False)
        assert isinstance(failure, TaskError)
        assert "boom" in str(failure)

    def test_start_flow_writes_chord_and_members_together(self, flow: Flow, broker: Broker) -> None:
        result = chord([flow.add.s(i, i) for i in range(3)], flow.tsum.s()).delay()
        assert broker.counts(flow.queue).ready == 3
        for _ in range(3):
            delivery = reserve_one(broker, flow.queue)
            flow.success(delivery, delivery.message.args[0])
        assert broker.counts(flow.queue).ready == 1
        flow.run()
        assert result.get(timeout=0) == 0 + 1 + 2


class TaskStateTests(ConformanceBase):
    """``set_task_state`` / ``get_task_state``: the latest report of a running task."""

    requires: ClassVar[Requires] = (ResultStore,)

    def test_latest_state_is_read_back_by_id(self, broker: Broker, clock: FakeClock) -> None:
        assert broker.get_task_state("never-reported") is None
        broker.set_task_state(TaskState(id="t-1", status="STARTED", updated_at=clock.now()))
        progress = TaskState(
            id="t-1", status="STARTED", current=3, total=10, meta={"stage": "a"}, updated_at=1.0
        )
        broker.set_task_state(progress, ttl=60)
        broker.set_task_state(TaskState(id="t-2", status="RETRY"), ttl=60)
        stored = broker.get_task_state("t-1")
        if stored is None:
            pytest.skip(f"{type(broker).__name__} keeps no task states (optional)")
        assert stored == progress
        assert stored.progress == {"current": 3, "total": 10, "meta": {"stage": "a"}}
        other = broker.get_task_state("t-2")
        assert other is not None
        assert other.status == "RETRY"

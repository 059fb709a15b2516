"""DeliveryRunner and revoke/expiry: a delivery that must not start ends without running."""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskq_core.worker.runner import DeliveryRunner

if TYPE_CHECKING:
    from taskq_core import Delivery, FakeClock, Taskq
    from taskq_memory import MemoryBroker


def reserve_one(broker: MemoryBroker) -> Delivery:
    [delivery] = broker.reserve(["default"], worker_id="worker-a", lease=30.0)
    return delivery


def test_a_prefetched_delivery_past_its_expiry_ends_expired_without_running(
    app: Taskq, broker: MemoryBroker, clock: FakeClock
) -> None:
    # Given a call reserved just before its expiry, which then waits 1 s in the prefetch
    ran: list[str] = []

    @app.task(name="tests.quote", expires=10)
    def quote() -> None:
        ran.append("quote")

    handle = quote.delay()
    clock.advance(9.5)
    delivery = reserve_one(broker)
    clock.advance(1.0)

    # When the worker would start it
    outcome = DeliveryRunner(app, broker).run(delivery)

    # Then it ends EXPIRED, unrun, and is counted
    assert outcome == "expired"
    assert ran == []
    assert handle.status == "EXPIRED"
    counts = broker.counts("default")
    assert (counts.processing, counts.expired) == (0, 1)


def test_a_delivery_asked_to_terminate_before_it_starts_ends_revoked(
    app: Taskq, broker: MemoryBroker
) -> None:
    # Given a reserved delivery whose termination was asked before it started
    ran: list[str] = []

    @app.task(name="tests.work", max_retries=5)
    def work() -> None:
        ran.append("work")

    handle = work.delay()
    delivery = reserve_one(broker)
    runner = DeliveryRunner(app, broker)
    assert runner.invoker.stoppers.terminate(delivery.id) is False  # not running: remembered

    # When the worker would start it
    outcome = runner.run(delivery)

    # Then it ends REVOKED without running, and is not retried
    assert outcome == "revoked"
    assert ran == []
    assert handle.status == "REVOKED"
    counts = broker.counts("default")
    assert (counts.ready, counts.scheduled, counts.processing, counts.revoked) == (0, 0, 0, 1)

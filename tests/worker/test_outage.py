"""The broker is unreachable while tasks settle: the worker keeps trying while it holds the lease.

The broker here fails its settling calls with ``BrokerUnavailable`` (what ``RedisBroker`` raises
once redis-py's own few seconds of retries are spent) a given number of times, then recovers.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

import pytest

from taskq_core.errors import BrokerUnavailable
from taskq_memory import MemoryBroker

from .conftest import QUIET_WORKER

if TYPE_CHECKING:
    from taskq_core import Taskq


class OutageBroker(MemoryBroker):
    """A memory broker whose acks, retries and burials fail while ``failures`` lasts."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.failures = 0
        self.attempts = 0
        self._failing = threading.Lock()

    def _maybe_fail(self) -> None:
        with self._failing:
            self.attempts += 1
            if self.failures:
                self.failures -= 1
                raise BrokerUnavailable("lost Redis at 127.0.0.1:6379: Connection refused")

    def ack_many(self, deliveries, **options):  # type: ignore[no-untyped-def]
        self._maybe_fail()
        return super().ack_many(deliveries, **options)

    def retry(self, delivery, **options):  # type: ignore[no-untyped-def]
        self._maybe_fail()
        return super().retry(delivery, **options)


@pytest.fixture
def broker(clock) -> OutageBroker:
    return OutageBroker(clock=clock)


def _problems(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_ack_that_fails_for_a_while_is_tried_until_it_goes_through(
    app: Taskq, broker: OutageBroker, make_worker, wait_until, events, caplog
):
    # Given a broker that refuses the next three acks, as during a Redis outage
    caplog.set_level(logging.INFO, logger="taskq.worker")
    broker.failures = 3

    @app.task(name="tests.during_outage")
    def during_outage() -> int:
        return 42

    # When a task succeeds while the lease (60 s) still runs
    handle = during_outage.delay()
    worker = make_worker()

    # Then its ack goes through once the broker is back: acked, hook fired, result kept
    wait_until(lambda: worker.stats["acked"] == 1)
    assert broker.attempts == 4
    assert events.counts["succeeded"] == 1
    assert handle.get(timeout=5) == 42
    assert broker.counts("default").processing == 0
    # And the outage left one warning without a traceback, then a "reconnected" line
    problems = _problems(caplog)
    assert [r.getMessage().split(":")[0] for r in problems] == [
        f"could not settle the ack of {handle.id}"
    ]
    assert all(r.exc_info is None for r in problems)
    assert any("reconnected to the broker" in r.getMessage() for r in caplog.records)


def test_retry_that_fails_for_a_while_is_tried_until_it_goes_through(
    app: Taskq, broker: OutageBroker, make_worker, wait_until, events
):
    # Given a broker that refuses the next two settlements
    broker.failures = 2

    @app.task(name="tests.fails_once", max_retries=1, default_retry_delay=0.0)
    def fails_once() -> None:
        raise RuntimeError("boom")

    # When the task fails while the lease still runs
    fails_once.delay()
    worker = make_worker()

    # Then its retry goes through, and it is buried after its one retry as usual
    wait_until(lambda: worker.stats["dead"] == 1)
    assert events.counts["retried"] == 1
    assert worker.stats["error"] == 0


def test_ack_given_up_at_the_lease_deadline_is_one_line(
    app: Taskq, broker: OutageBroker, make_worker, wait_until, caplog
):
    # Given a broker that stays out, and a worker with a one-second lease
    caplog.set_level(logging.INFO, logger="taskq.worker")
    broker.failures = 1_000_000

    @app.task(name="tests.never_acked")
    def never_acked() -> None:
        return None

    # When a task succeeds
    never_acked.delay()
    worker = make_worker(**{**QUIET_WORKER, "visibility_timeout": 1.0, "heartbeat_interval": 0.5})

    # Then the worker gives up once the lease has run out, with one line and no traceback
    wait_until(lambda: worker.stats["error"] == 1)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "could not ack 1 deliveries (BrokerUnavailable: lost Redis" in errors[0].getMessage()
    assert all(r.exc_info is None for r in _problems(caplog))

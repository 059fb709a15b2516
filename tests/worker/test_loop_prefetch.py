"""The event loop's prefetch: deliveries that wait on the loop for a coroutine slot, and their
release at a graceful stop."""

from __future__ import annotations

import threading

import pytest

from taskq_core.worker.coroutines import CoroutineRuns
from taskq_core.worker.holding import Holdings
from taskq_core.worker.prefetch import Prefetch, loop_prefetch

from ..support.memory import reserved_deliveries


def test_deliveries_waiting_on_the_loop_within_its_prefetch_take_no_pool_slot() -> None:
    # Given a loop of two coroutine slots that may hold one more delivery ahead
    holdings = Holdings(async_limit=2, loop_prefetch=Prefetch(2, 1))
    batch = reserved_deliveries(3)
    holdings.hold(batch)

    # When three deliveries are handed to it (two run, one waits for a slot)
    holdings.unslot(batch)

    # Then the pool's one slot is still free
    assert holdings.wait_for_room(1, threading.Event()) == 1


def test_the_loop_keeps_about_a_tenth_of_a_second_of_its_work_ahead_up_to_half_its_slots() -> None:
    ahead = loop_prefetch(1000, None)
    ahead.observe(0.05)
    assert ahead.current() == 500  # 2,000 coroutines of 50 ms in 0.1 s: half the slots at most
    long = loop_prefetch(1000, None)
    long.observe(10.0)
    assert long.current() == 10  # a hundredth of a coroutine of 10 s per slot in 0.1 s


def test_fair_mode_keeps_nothing_ahead_on_the_loop() -> None:
    fair = loop_prefetch(1000, 0)
    fair.observe(0.05)
    assert fair.current() == 0


def test_a_blocked_loop_keeps_its_waiting_tasks_and_the_stop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class BlockedLoop:
        def call(self, callback: object, timeout: float) -> None:
            raise TimeoutError

    runs = CoroutineRuns(None, Holdings(), BlockedLoop(), None, 10)  # type: ignore[arg-type]
    assert runs.take_waiting() == []
    assert "the event loop did not answer" in caplog.text

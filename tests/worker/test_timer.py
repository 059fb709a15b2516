"""The heartbeat tells when it was starved: a wait far longer than asked means no GIL for it.

The timer's waits are scripted: a stop event whose ``wait`` moves a fake clock by the time asked
plus a chosen lateness, as a thread that could not get the GIL back would see it. The detection
and the warning are the timer's own code.
"""

from __future__ import annotations

import logging
import threading

import pytest

from taskq_core.worker.upkeep import Timer

#: Wall-clock bound on the timer's thread ending; reached only when something is broken.
JOIN_TIMEOUT = 15.0


class FakeMonotonic:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ScriptedStop(threading.Event):
    """A stop event whose waits each last the time asked plus the next lateness of a script.

    Once the script is played, the next wait reports the stop.
    """

    def __init__(self, clock: FakeMonotonic, lateness: list[float]) -> None:
        super().__init__()
        self._clock = clock
        self._lateness = list(lateness)

    def wait(self, timeout: float | None = None) -> bool:
        if not self._lateness:
            return True
        assert timeout is not None
        self._clock.now += timeout + self._lateness.pop(0)
        return False


def run_timer(lateness: list[float], *, warn_starved: bool = True) -> int:
    """Run a 1 s timer through waits of the given lateness; returns how often it ticked."""
    clock = FakeMonotonic()
    ticks: list[float] = []
    timer = Timer(
        "heartbeat",
        1.0,
        lambda: ticks.append(clock()),
        ScriptedStop(clock, lateness),
        clock=clock,
        warn_starved=warn_starved,
    )
    timer.start()
    timer.join(JOIN_TIMEOUT)
    return len(ticks)


def starved_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno == logging.WARNING and "starved" in record.getMessage()
    ]


def test_a_heartbeat_that_woke_far_too_late_logs_one_warning(caplog: pytest.LogCaptureFixture):
    # Given a heartbeat every 1 s whose third wait ends 9 s late (a task held the GIL)
    with caplog.at_level(logging.WARNING, logger="taskq.worker"):
        # When it runs through four waits
        ticks = run_timer([0.01, 0.2, 9.0, 0.0])

    # Then it ticked after each, and warned once: how late, and where such tasks belong
    assert ticks == 5
    [warning] = starved_warnings(caplog)
    assert "heartbeat thread was starved: it woke 9.0s late (due every 1.0s)" in warning
    assert "--pool processes" in warning


def test_a_heartbeat_on_time_or_slightly_late_logs_nothing(caplog: pytest.LogCaptureFixture):
    # Given waits that end on time, or late by less than an interval (a busy machine)
    with caplog.at_level(logging.WARNING, logger="taskq.worker"):
        # When the heartbeat runs through them
        ticks = run_timer([0.0, 0.5, 0.8])

    # Then it ticked after each and warned about nothing
    assert ticks == 4
    assert starved_warnings(caplog) == []


def test_timers_that_do_not_watch_for_starvation_stay_quiet(caplog: pytest.LogCaptureFixture):
    # Given a timer (the reaper, say) not asked to watch, with a wait 9 s late
    with caplog.at_level(logging.WARNING, logger="taskq.worker"):
        # When it runs through it
        run_timer([9.0], warn_starved=False)

    # Then nothing is logged: only the heartbeat speaks for the whole worker
    assert starved_warnings(caplog) == []

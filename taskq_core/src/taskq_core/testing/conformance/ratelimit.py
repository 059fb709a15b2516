"""Rate-limit grants: a sliding-window log over broker time, shared by every worker.

The window at ``now`` is ``(now - period, now]``. Times in these tests move in quarter seconds, so
every instant and every wait is exact in binary floating point (and in whole milliseconds): a
window boundary is hit exactly, never missed by a rounding error.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, ClassVar

import pytest

from taskq_core.capabilities import RateLimiter
from taskq_core.testing.conformance.base import ConformanceBase, run_concurrently

if TYPE_CHECKING:
    from taskq_core.clock import FakeClock
    from taskq_core.testing.conformance.base import Broker, Requires

#: Seeds of the randomized sequences; fixed, so a failure replays exactly.
SEEDS = (7, 11, 2026)
#: Calls in one randomized sequence.
SEQUENCE_CALLS = 300
#: Clock steps of the randomized sequences, in seconds: quarter seconds, zero included, so
#: several calls share an instant and some steps jump past a whole period.
CLOCK_STEPS = (0.0, 0.0, 0.25, 0.5, 1.0, 1.75, 2.5, 4.0, 6.25)
#: Threads and calls per thread in the race for grants.
RACE_THREADS = 8
RACE_CALLS = 40


def drive(
    broker: Broker, clock: FakeClock, key: str, *, limit: int, period: float, seed: int
) -> list[tuple[float, float]]:
    """Call ``acquire_rate_limit`` at randomly spaced instants; return ``(now, answer)`` pairs.

    After a refusal the clock sometimes moves by exactly the wait the broker gave, so the
    moment the oldest grant leaves the window is tried as often as the moments around it.
    """
    rng = random.Random(seed)
    calls: list[tuple[float, float]] = []
    for _ in range(SEQUENCE_CALLS):
        last_wait = calls[-1][1] if calls else 0.0
        clock.advance(
            last_wait if last_wait > 0 and rng.random() < 0.3 else rng.choice(CLOCK_STEPS)
        )
        calls.append((clock.now(), broker.acquire_rate_limit(key, limit=limit, period=period)))
    return calls


class RateLimitTests(ConformanceBase):
    """At most ``limit`` grants in any ``period``; a refusal says how long until the next one."""

    requires: ClassVar[Requires] = (RateLimiter,)

    def test_grants_up_to_the_limit_then_waits_for_the_oldest(
        self, broker: Broker, clock: FakeClock, queue_name: str
    ) -> None:
        """The call after ``limit`` grants is refused with the time the oldest needs to leave."""
        # Given three grants of a 3-per-10-s limiter, a second apart
        key = f"{queue_name}.limiter"
        first = clock.now()
        answers = []
        for _ in range(3):
            answers.append(broker.acquire_rate_limit(key, limit=3, period=10.0))
            clock.advance(1.0)
        # When a fourth is asked for
        wait = broker.acquire_rate_limit(key, limit=3, period=10.0)
        # Then the three were granted and the fourth must wait until the first leaves the window
        assert answers == [0.0, 0.0, 0.0]
        assert wait == pytest.approx(first + 10.0 - clock.now(), abs=1e-3)
        assert wait > 0

    def test_a_grant_succeeds_once_the_oldest_has_left(
        self, broker: Broker, clock: FakeClock, queue_name: str
    ) -> None:
        """Waiting exactly as long as told is enough: the window excludes its oldest edge."""
        # Given a full 2-per-10-s limiter, whose grants were a second apart, and its wait
        key = f"{queue_name}.limiter"
        broker.acquire_rate_limit(key, limit=2, period=10.0)
        clock.advance(1.0)
        broker.acquire_rate_limit(key, limit=2, period=10.0)
        wait = broker.acquire_rate_limit(key, limit=2, period=10.0)
        # When the clock moves by that wait
        clock.advance(wait)
        # Then a grant succeeds, and the next call waits for the second grant to leave
        assert broker.acquire_rate_limit(key, limit=2, period=10.0) == 0.0
        assert broker.acquire_rate_limit(key, limit=2, period=10.0) == pytest.approx(1.0, abs=1e-3)

    def test_refused_calls_record_nothing(
        self, broker: Broker, clock: FakeClock, queue_name: str
    ) -> None:
        """Callers that were told to wait do not push the window's end further away."""
        # Given a full 2-per-10-s limiter, refused many times 5 s later
        key = f"{queue_name}.limiter"
        for _ in range(2):
            broker.acquire_rate_limit(key, limit=2, period=10.0)
        clock.advance(5.0)
        for _ in range(5):
            assert broker.acquire_rate_limit(key, limit=2, period=10.0) > 0
        # When the two grants leave the window
        clock.advance(5.0)
        answers = [broker.acquire_rate_limit(key, limit=2, period=10.0) for _ in range(3)]
        # Then two grants are possible again, as if the refusals never happened
        assert answers[:2] == [0.0, 0.0]
        assert answers[2] == pytest.approx(10.0, abs=1e-3)

    def test_keys_are_independent(self, broker: Broker, clock: FakeClock, queue_name: str) -> None:
        """A full limiter does not hold back another key."""
        # Given a full limiter
        full, other = f"{queue_name}.full", f"{queue_name}.other"
        broker.acquire_rate_limit(full, limit=1, period=60.0)
        assert broker.acquire_rate_limit(full, limit=1, period=60.0) > 0
        # When another key is asked for a grant, then it is granted
        assert broker.acquire_rate_limit(other, limit=1, period=60.0) == 0.0

    @pytest.mark.parametrize("seed", SEEDS)
    def test_every_answer_agrees_with_a_sliding_window_log(
        self, broker: Broker, clock: FakeClock, queue_name: str, seed: int
    ) -> None:
        """Across random clock moves, each call grants exactly when the window has room.

        The model keeps every grant; at ``now`` the window holds those after ``now - period``.
        A call is granted iff fewer than ``limit`` are in it; otherwise the answer is the time
        until the oldest of them leaves.
        """
        limit, period = 4, 5.0
        # Given a sequence of calls at random instants
        calls = drive(broker, clock, f"{queue_name}.limiter", limit=limit, period=period, seed=seed)
        # When each answer is compared with the model's
        grants: list[float] = []
        for step, (now, answer) in enumerate(calls):
            in_window = [grant for grant in grants if grant > now - period]
            expected = 0.0 if len(in_window) < limit else in_window[0] + period - now
            if expected == 0.0:
                grants.append(now)
            # Then they agree
            assert answer == pytest.approx(expected, abs=1e-3), f"call {step} at {now}"

    @pytest.mark.parametrize("seed", SEEDS)
    def test_no_window_ever_holds_more_than_limit_grants(
        self, broker: Broker, clock: FakeClock, queue_name: str, seed: int
    ) -> None:
        """However the clock moves, any ``period`` seconds contain at most ``limit`` grants."""
        limit, period = 3, 5.0
        # Given a sequence of calls at random instants
        calls = drive(broker, clock, f"{queue_name}.limiter", limit=limit, period=period, seed=seed)
        grants = [now for now, answer in calls if answer == 0.0]
        # When the grants are counted in the window ending at each of them
        fullest = max(sum(1 for g in grants if end - period < g <= end) for end in grants)
        # Then none holds more than the limit, and the limiter did grant up to it
        assert fullest == limit

    def test_racing_threads_get_exactly_limit_grants(self, broker: Broker, queue_name: str) -> None:
        """Grants are atomic: eight threads at one frozen instant share exactly ``limit``."""
        # Given a 5-per-minute limiter and a clock that does not move
        key = f"{queue_name}.limiter"

        def hammer() -> list[float]:
            return [broker.acquire_rate_limit(key, limit=5, period=60.0) for _ in range(RACE_CALLS)]

        # When eight threads ask for grants at once
        answers = [a for answers in run_concurrently([hammer] * RACE_THREADS) for a in answers]
        # Then exactly five were granted and every other call was told to wait
        assert answers.count(0.0) == 5
        assert all(answer > 0 for answer in answers if answer != 0.0)

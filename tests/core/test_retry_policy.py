"""RetryPolicy: how long a failed task waits, and whether it runs again at all."""

from __future__ import annotations

import random

import pytest

from taskq_core import ConfigurationError, Retry
from taskq_core.retry import RetryPolicy


def test_caps_double_from_the_base_delay():
    # Given exponential backoff from 1 s with a high ceiling
    policy = RetryPolicy(default_retry_delay=1.0, retry_backoff_max=1000.0)

    # When the caps of the first retries are computed
    caps = [policy.backoff_cap(used) for used in range(6)]

    # Then each doubles the previous one
    assert caps == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]


def test_caps_stop_at_retry_backoff_max():
    # Given a ceiling of 10 s
    policy = RetryPolicy(default_retry_delay=1.0, retry_backoff_max=10.0)

    # When many retries were used
    caps = [policy.backoff_cap(used) for used in range(3, 7)]

    # Then no cap exceeds the ceiling
    assert caps == [8.0, 10.0, 10.0, 10.0]


def test_cap_of_a_huge_retry_count_does_not_overflow():
    # Given a task that has been retried a very large number of times
    policy = RetryPolicy(default_retry_delay=1.0, retry_backoff_max=600.0)

    # When its cap is computed, then it is the ceiling, not an OverflowError
    assert policy.backoff_cap(10_000) == 600.0


def test_without_backoff_every_cap_is_the_base_delay():
    # Given retry_backoff=False
    policy = RetryPolicy(default_retry_delay=3.0, retry_backoff=False)

    # When the delays of several retries are computed without jitter
    # Then they stay constant
    assert {policy.backoff_cap(used) for used in range(5)} == {3.0}


def test_without_jitter_the_delay_is_the_cap():
    # Given jitter turned off, and a draw that would change the delay if it were used
    policy = RetryPolicy(default_retry_delay=1.0, retry_jitter=False)

    # When delays are computed, then each one is its cap
    assert [policy.delay(used, draw=lambda: 0.25) for used in range(4)] == [1.0, 2.0, 4.0, 8.0]


@pytest.mark.parametrize(("draw", "expected"), [(0.0, 0.0), (0.5, 4.0), (0.25, 2.0)])
def test_full_jitter_scales_the_cap_by_the_draw(draw: float, expected: float):
    # Given jitter on and a fixed draw
    policy = RetryPolicy(default_retry_delay=1.0, retry_jitter=True)

    # When the delay of the fourth retry (cap 8 s) is computed
    # Then it is the draw's share of the cap
    assert policy.delay(3, draw=lambda: draw) == expected


def test_full_jitter_stays_between_zero_and_the_cap():
    # Given jitter on and a seeded random source
    policy = RetryPolicy(default_retry_delay=0.5, retry_backoff_max=20.0, retry_jitter=True)
    rng = random.Random(1234)

    # When many delays are drawn for many retry counts
    for used in range(12):
        cap = policy.backoff_cap(used)
        delays = [policy.delay(used, draw=rng.random) for _ in range(200)]

        # Then every delay lies within [0, cap], and they are spread, not all the cap
        assert all(0.0 <= delay <= cap for delay in delays)
        assert len(set(delays)) > 1


def test_any_exception_is_retried_by_default():
    # Given the default policy, when asked about an ordinary exception, then it retries
    assert RetryPolicy().retries_exception(ValueError("boom"))


def test_no_retry_for_wins_over_retry_for():
    # Given KeyError excluded although retry_for covers every Exception
    policy = RetryPolicy(retry_for=(Exception,), no_retry_for=(KeyError,))

    # When asked about a KeyError and a ValueError
    # Then only the ValueError is retried
    assert not policy.retries_exception(KeyError("missing"))
    assert policy.retries_exception(ValueError("bad"))


def test_retry_for_limits_retries_to_the_listed_types():
    # Given only connection errors are worth retrying
    policy = RetryPolicy(retry_for=(ConnectionError,))

    # When asked about a subclass of it and about another type
    # Then the subclass is retried and the other is not
    assert policy.retries_exception(ConnectionRefusedError())
    assert not policy.retries_exception(ValueError("bad"))


def test_retry_request_carries_its_delay():
    # Given a task asking for a retry in 7 s, then the request keeps the delay and reason
    request = Retry(delay=7.0, reason="rate limited")
    assert request.delay == 7.0
    assert str(request) == "rate limited"


@pytest.mark.parametrize(
    "options",
    [{"max_retries": -1}, {"default_retry_delay": -1.0}, {"retry_backoff_max": -0.5}],
)
def test_negative_settings_are_configuration_errors(options: dict[str, float]):
    # Given a negative limit or delay, when a policy is built, then it is refused
    with pytest.raises(ConfigurationError):
        RetryPolicy(**options)  # type: ignore[arg-type]

"""When a failed task runs again, and after how long: pure functions of the policy.

Backoff is exponential with *full jitter* (a uniform draw between 0 and the exponential cap), the
schedule that spreads a thundering herd of failures best (AWS architecture blog, "Exponential
Backoff And Jitter"). With ``retry_jitter=False`` the delay is the cap itself, which tests and
users who want predictability can rely on.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from taskq_core.errors import ConfigurationError

#: Retries after an exception, unless the task or the call says otherwise.
DEFAULT_MAX_RETRIES = 3
#: Base delay in seconds before the first retry.
DEFAULT_RETRY_DELAY = 1.0
#: Upper bound in seconds of one backoff delay.
DEFAULT_RETRY_BACKOFF_MAX = 600.0


@dataclass(frozen=True)
class RetryPolicy:
    """How a task's exceptions are retried.

    Attributes:
        max_retries: Retries allowed after exceptions; the next failure goes to DEAD.
        default_retry_delay: Base delay in seconds (the first retry's cap).
        retry_backoff: Double the cap on every retry; ``False`` keeps it at the base delay.
        retry_backoff_max: Ceiling of the cap in seconds.
        retry_jitter: Draw the delay uniformly between 0 and the cap (full jitter).
        retry_for: Only these exception types are retried.
        no_retry_for: These exception types go straight to DEAD (checked before ``retry_for``).
    """

    max_retries: int = DEFAULT_MAX_RETRIES
    default_retry_delay: float = DEFAULT_RETRY_DELAY
    retry_backoff: bool = True
    retry_backoff_max: float = DEFAULT_RETRY_BACKOFF_MAX
    retry_jitter: bool = True
    retry_for: tuple[type[BaseException], ...] = (Exception,)
    no_retry_for: tuple[type[BaseException], ...] = field(default=())

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ConfigurationError("max_retries must be >= 0")
        if self.default_retry_delay < 0 or self.retry_backoff_max < 0:
            raise ConfigurationError("retry delays must be >= 0 seconds")

    def backoff_cap(self, retries_used: int) -> float:
        """The largest delay before retry number ``retries_used + 1``."""
        if not self.retry_backoff:
            return min(self.default_retry_delay, self.retry_backoff_max)
        # Cap the exponent: 2**64 seconds is as good as infinity and avoids float overflow.
        return min(self.default_retry_delay * 2.0 ** min(retries_used, 64), self.retry_backoff_max)

    def delay(self, retries_used: int, draw: Callable[[], float] = random.random) -> float:
        """Seconds to wait before the next attempt, given how many retries were already used."""
        cap = self.backoff_cap(retries_used)
        return cap * draw() if self.retry_jitter else cap

    def retries_exception(self, exc: BaseException) -> bool:
        """Whether this kind of exception is worth retrying at all."""
        if isinstance(exc, self.no_retry_for):
            return False
        return isinstance(exc, self.retry_for)

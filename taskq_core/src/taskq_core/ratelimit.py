"""Rate-limit specs: ``"100/s"``, ``"20/m"``, ``"5/h"``, ``"10/30s"``.

The limit is enforced by the broker (``RateLimiter.acquire_rate_limit``), so it holds across every
worker together, measured on the broker's clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from taskq_core.errors import ConfigurationError

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d*(?:\.\d+)?)\s*([smh])\s*$")


@dataclass(frozen=True)
class RateLimit:
    """At most ``limit`` task starts in any ``period`` seconds."""

    limit: int
    period: float

    def __str__(self) -> str:
        return f"{self.limit}/{self.period:g}s"


def parse_rate_limit(spec: str | RateLimit) -> RateLimit:
    """Parse ``"N/unit"`` or ``"N/<k>unit"``; raise ``ConfigurationError`` naming the format."""
    if isinstance(spec, RateLimit):
        return spec
    match = _SPEC.match(spec)
    if not match:
        raise ConfigurationError(
            f"invalid rate_limit {spec!r}: use 'N/s', 'N/m', 'N/h' or 'N/<k>s' (e.g. '100/s')"
        )
    count, multiplier, unit = match.groups()
    period = (float(multiplier) if multiplier else 1.0) * _UNITS[unit]
    if int(count) < 1 or period <= 0:
        raise ConfigurationError(f"invalid rate_limit {spec!r}: count and period must be > 0")
    return RateLimit(int(count), period)

"""A worker's vital signs, as health checks read them (``Worker.liveness()``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Liveness:
    """What a running worker can say about itself without asking the broker.

    Attributes:
        consuming: The worker reserves work: its consumer thread runs (``solo`` and
            ``processes`` pools) or every thread of the ``threads`` pool does, and it is not
            shutting down.
        heartbeating: The heartbeat thread runs.
        heartbeat_age: Seconds since the last heartbeat that reached the broker (and renewed
            the leases); ``None`` before the first one.
        heartbeat_interval: Seconds between two heartbeats.
    """

    consuming: bool
    heartbeating: bool
    heartbeat_age: float | None
    heartbeat_interval: float

    def alive(self, max_heartbeat_age: float | None = None) -> bool:
        """Whether all is well: consuming, heartbeating, and the last heartbeat recent enough.

        Args:
            max_heartbeat_age: Oldest acceptable successful heartbeat, in seconds; default two
                intervals (one missed heartbeat, plus the timer's jitter, is tolerated).
        """
        limit = 2 * self.heartbeat_interval if max_heartbeat_age is None else max_heartbeat_age
        return (
            self.consuming
            and self.heartbeating
            and self.heartbeat_age is not None
            and self.heartbeat_age <= limit
        )

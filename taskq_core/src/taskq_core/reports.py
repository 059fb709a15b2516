"""What a broker reports about its queues and workers: counts, history, liveness, recoveries.

Re-exported by :mod:`taskq_core.schemas`, where every model is imported from.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class WorkerInfo(BaseModel):
    """What a worker says about itself on every heartbeat."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    worker_id: str = Field(min_length=1, max_length=200)
    hostname: str = ""
    pid: int = 0
    queues: tuple[str, ...] = ()
    concurrency: int = 1
    pool: str = "threads"
    started_at: float = 0.0
    last_seen: float = 0.0
    version: str = ""
    #: Seconds between this worker's heartbeats; 0 when not said. A broker uses it to tell a
    #: heartbeat that follows a gap (the worker, or the broker, was out) from a regular one.
    heartbeat_interval: float = 0.0
    #: Deliveries the worker held (running or prefetched) at its latest heartbeat.
    in_flight: int = 0


class QueueCounts(BaseModel):
    """How many messages a queue holds in each state."""

    model_config = ConfigDict(frozen=True)

    queue: str
    ready: int = 0
    scheduled: int = 0
    processing: int = 0
    dead: int = 0
    #: Messages that expired before they started, since the queue was created (ended EXPIRED).
    expired: int = 0
    #: Messages revoked before they ran or while they ran, since the queue was created.
    revoked: int = 0


#: Per-minute history a broker keeps for each queue, in minutes (the dashboard charts an hour).
HISTORY_MINUTES = 120


class MinuteCounts(BaseModel):
    """Outcomes of one queue's deliveries settled within one minute of broker time.

    ``succeeded`` counts acks, ``failed`` moves to DEAD by a worker (``dead``), ``retried``
    retries, ``expired`` messages that expired before they started and ``revoked`` ones revoked
    (see docs/control.md); postpones, releases and the reaper's recoveries are not outcomes and
    count nowhere.
    """

    model_config = ConfigDict(frozen=True)

    #: Start of the minute, seconds since the epoch (a multiple of 60).
    minute: float
    succeeded: int = 0
    failed: int = 0
    retried: int = 0
    expired: int = 0
    revoked: int = 0


class QueueStats(BaseModel):
    """A queue's counts, per-minute history (oldest minute first, ending now) and pause flag."""

    model_config = ConfigDict(frozen=True)

    counts: QueueCounts
    history: tuple[MinuteCounts, ...] = ()
    paused: bool = False


def minutes_window(now: float, minutes: int) -> list[float]:
    """Starts of the last ``minutes`` minutes up to the one holding ``now``, oldest first.

    Raises:
        ValueError: ``minutes`` is below 1 or above :data:`HISTORY_MINUTES`.
    """
    if not 1 <= minutes <= HISTORY_MINUTES:
        raise ValueError(f"minutes must be between 1 and {HISTORY_MINUTES}, got {minutes!r}")
    current = int(now // 60)
    return [float(60 * m) for m in range(current - minutes + 1, current + 1)]


class RecoveryReport(BaseModel):
    """What one reaper pass did: ids handed back to READY and ids buried in DEAD."""

    model_config = ConfigDict(frozen=True)

    requeued: tuple[str, ...] = ()
    dead: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.requeued or self.dead)

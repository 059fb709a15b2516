"""Periodic tasks: ``@app.periodic`` schedules, and the scheduler every worker runs.

``schedule.py`` says when ticks fall and what each sends; ``scheduler.py`` sends each due tick
once, through the broker's atomic ``claim_tick``. docs/periodic.md is the user's guide.
"""

from __future__ import annotations

from taskq_core.periodic.schedule import (
    SKIP_AFTER,
    CatchUp,
    Cron,
    Every,
    Periodic,
    PeriodicOptions,
    cadence_of,
    periodic_of,
)
from taskq_core.periodic.scheduler import Scheduler

__all__ = [
    "SKIP_AFTER",
    "CatchUp",
    "Cron",
    "Every",
    "Periodic",
    "PeriodicOptions",
    "Scheduler",
    "cadence_of",
    "periodic_of",
]

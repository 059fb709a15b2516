"""The app of the monitoring tests, at module level so pool children and CLI workers import it.

Outcomes are known in advance: ``ok`` succeeds, ``boom`` fails every time (one retry, then
DEAD), ``log_line`` writes a warning through ``logging`` and succeeds. The test process gives
the app its broker (a child never touches one; a CLI worker gets ``--broker``).
"""

from __future__ import annotations

import logging

from taskq_core import Taskq

app = Taskq()

log = logging.getLogger("monitoring.task")


@app.task(name="monitoring.ok")
def ok(x: int) -> int:
    """Succeed."""
    return x


@app.task(name="monitoring.boom", max_retries=1, default_retry_delay=0.0, retry_backoff=False)
def boom() -> None:
    """Fail every time: one retry, then DEAD."""
    raise ValueError("boom")


@app.task(name="monitoring.log_line")
def log_line(marker: str) -> str:
    """Log one warning naming ``marker``, and succeed."""
    log.warning("task says %s", marker)
    return marker

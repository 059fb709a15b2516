"""The start banner: what a worker runs with, logged once when it starts consuming.

An operator reading the log of a worker sees its version, the broker (password hidden), the
queues and their order, the pool (and how many ``async def`` tasks run at once when that is
not ``-c``), prefetch, lease and heartbeat, and the registered tasks, as a
Celery user expects from ``celery worker``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from taskq_core.worker.worker import Worker

#: The logger the banner goes to: ``taskq worker`` keeps it at INFO whatever ``--loglevel`` says,
#: so a worker logging only warnings still says once what it runs with.
BANNER_LOGGER = "taskq.worker.banner"


def banner(worker: Worker, version: str) -> str:
    """The banner text of ``worker``: a title line, then one indented line per setting."""
    app = worker.app
    url = app.broker_url or f"{type(app.broker).__name__} instance"
    if worker.prefetch_setting is None:
        prefetch = f"adaptive, up to {worker.prefetch}"
    elif worker.prefetch == 0:
        prefetch = "0 (nothing reserved ahead of a free slot)"
    else:
        prefetch = str(worker.prefetch)
    pool = f"{worker.pool_name}, concurrency {worker.concurrency}"
    if worker.async_concurrency not in (None, worker.concurrency):
        pool += f", async def tasks {worker.async_concurrency} at once"
    tasks = sorted(app.tasks) or ["(none registered)"]
    lines = [
        f"taskq {version} worker {worker.id} starting",
        f"  broker:      {url}",
        f"  queues:      {', '.join(worker.queues)} - order {worker.queue_order.describe()}",
        f"  pool:        {pool}",
        f"  prefetch:    {prefetch}",
        f"  lease:       {worker.visibility_timeout:g}s, heartbeat every "
        f"{worker.heartbeat_interval:g}s, dead after {worker.worker_timeout:g}s of silence",
        "  tasks:",
        *(f"    . {name}" for name in tasks),
    ]
    return "\n".join(lines)

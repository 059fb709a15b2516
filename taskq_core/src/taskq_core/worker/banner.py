"""The start banner: what a worker runs with, logged once when it starts consuming.

An operator reading the log of a worker sees its version, the broker (password hidden), the
queues and their order, the pool, prefetch, lease and heartbeat, and the registered tasks, as a
Celery user expects from ``celery worker``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from taskq_core.worker.worker import Worker

#: ``scheme://`` then everything up to the last ``@`` of the authority: the credentials.
_CREDENTIALS = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)(.*)@(?=[^@]*$)")
#: A ``password=`` query parameter's value.
_PASSWORD_PARAMETER = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)


def _redact_url(url: str) -> str:
    """``url`` with its credentials and any ``password=`` parameter replaced by ``***``.

    Works on the text, not on a parsed URL, so a password holding ``#``, ``/`` or ``?`` (which
    break URL parsing) is hidden too.
    """
    url = _CREDENTIALS.sub(r"\1***@", url, count=1)
    return _PASSWORD_PARAMETER.sub(r"\1***", url)


def banner(worker: Worker, version: str) -> str:
    """The banner text of ``worker``: a title line, then one indented line per setting."""
    app = worker.app
    url = _redact_url(app.broker_url) if app.broker_url else f"{type(app.broker).__name__} instance"
    if worker.prefetch_setting is None:
        prefetch = f"adaptive, up to {worker.prefetch}"
    elif worker.prefetch == 0:
        prefetch = "0 (nothing reserved ahead of a free slot)"
    else:
        prefetch = str(worker.prefetch)
    tasks = sorted(app.tasks) or ["(none registered)"]
    lines = [
        f"taskq {version} worker {worker.id} starting",
        f"  broker:      {url}",
        f"  queues:      {', '.join(worker.queues)} - order {worker.queue_order.describe()}",
        f"  pool:        {worker.pool_name}, concurrency {worker.concurrency}",
        f"  prefetch:    {prefetch}",
        f"  lease:       {worker.visibility_timeout:g}s, heartbeat every "
        f"{worker.heartbeat_interval:g}s, dead after {worker.worker_timeout:g}s of silence",
        "  tasks:",
        *(f"    . {name}" for name in tasks),
    ]
    return "\n".join(lines)

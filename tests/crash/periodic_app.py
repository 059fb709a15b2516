"""The app of the periodic crash test, run by real ``taskq worker periodic_app:app`` processes.

One schedule, ``every=1``, in the queue ``TASKQ_CRASH_QUEUE`` on the redis-server
``TASKQ_CRASH_URL`` under the key prefix ``TASKQ_CRASH_PREFIX``. Each process records in Redis
under ``<prefix>:test:``:

* ``ready``  that its worker started (hook ``taskq_worker_started``), member ``<pid>``;
* ``ticks``  every execution start (hook ``taskq_task_started``): a LIST, so that a tick sent
             twice shows up twice, of JSON ``{"tick", "id", "token", "pid"}``; the tick comes
             from the message's ``taskq-tick`` header, written by the scheduler that sent it.
"""

from __future__ import annotations

import json
import os
from typing import Any

import redis

from taskq_core import Taskq
from taskq_core.plugins import hookimpl, plugin_manager

URL = os.environ.get("TASKQ_CRASH_URL", "redis://127.0.0.1:6379/0")
PREFIX = os.environ.get("TASKQ_CRASH_PREFIX", "crash-periodic")

app = Taskq(f"{URL}?prefix={PREFIX}", default_queue=os.environ.get("TASKQ_CRASH_QUEUE", "default"))


@app.periodic(every=1)
@app.task(name="crash.every_second")
def every_second() -> None:
    """Does nothing: the hook below records that it ran, and for which tick."""


class TickRecorder:
    """Hook implementations writing what this worker process saw into the test's keys."""

    def __init__(self) -> None:
        self.client = redis.Redis.from_url(URL, socket_timeout=5)
        self.base = f"{PREFIX}:test"

    @hookimpl
    def taskq_worker_started(self, worker: Any) -> None:
        self.client.sadd(f"{self.base}:ready", os.getpid())

    @hookimpl
    def taskq_task_started(self, delivery: Any) -> None:
        record = {
            "tick": float(delivery.message.headers["taskq-tick"]),
            "id": delivery.id,
            "token": delivery.token,
            "pid": os.getpid(),
        }
        self.client.rpush(f"{self.base}:ticks", json.dumps(record))


if "TASKQ_CRASH_PREFIX" in os.environ:
    plugin_manager().register(TickRecorder())

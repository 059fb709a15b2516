"""A worker process of the distributed rate-limit test: ``python fleet_worker.py --url ... ``.

It runs :class:`taskq_core.Worker` on a :class:`~taskq_redis.RedisBroker` and records what the
test needs under ``<prefix>:test:`` in the same Redis:

* ``ready``   (SET)  the worker's name once it is consuming (hook ``taskq_worker_started``);
* ``starts``  (LIST) ``{"n", "t"}`` per execution of ``features.limited(n)``: ``t`` is
  ``time.time()`` taken first thing in the task body;
* ``grants``  (LIST) ``{"asked", "answered"}`` per rate-limit grant: ``time.time()`` just before
  the limiter's script was sent and just after its answer, so the server's grant time (its
  ``TIME``, the same clock on this machine) lies between the two;
* ``acked``   (LIST) ``{"id", "retries"}`` per successful ack (hook ``taskq_task_succeeded``).

The task is limited to ``RATE`` across all workers and may not retry at all, so a postponement
that counted as a retry would bury it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import threading
import time
from typing import Any

import redis

from taskq_core import Taskq, Worker
from taskq_core.plugins import hookimpl, plugin_manager
from taskq_redis import RedisBroker

#: The rate limit under test.
RATE = "20/s"


class Recorder:
    """Writes the worker's observations into the test's keys."""

    def __init__(self, url: str, prefix: str, name: str) -> None:
        self.client = redis.Redis.from_url(url, socket_timeout=10)
        self.base = f"{prefix}:test"
        self.name = name

    @hookimpl
    def taskq_worker_started(self, worker: Any) -> None:
        self.client.sadd(f"{self.base}:ready", self.name)

    @hookimpl
    def taskq_task_succeeded(self, delivery: Any, result: object, runtime: float) -> None:
        record = {"id": delivery.id, "retries": delivery.retries}
        self.client.rpush(f"{self.base}:acked", json.dumps(record))

    def start(self, n: int, at: float) -> None:
        self.client.rpush(f"{self.base}:starts", json.dumps({"n": n, "t": at}))

    def grant(self, asked: float, answered: float) -> None:
        self.client.rpush(f"{self.base}:grants", json.dumps({"asked": asked, "answered": answered}))


class GrantRecordingBroker(RedisBroker):
    """A :class:`RedisBroker` that records when each rate-limit grant could have happened."""

    recorder: Recorder

    def acquire_rate_limit(self, key: str, *, limit: int, period: float) -> float:
        asked = time.time()
        wait = super().acquire_rate_limit(key, limit=limit, period=period)
        if wait <= 0:
            self.recorder.grant(asked, time.time())
        return wait


def build_app(broker: RedisBroker, queue: str, recorder: Recorder) -> Taskq:
    app = Taskq(broker, default_queue=queue)

    @app.task(name="features.limited", rate_limit=RATE, max_retries=0, ignore_result=True)
    def limited(n: int) -> None:
        recorder.start(n, time.time())

    return app


def exit_with_parent() -> None:
    """End this worker if the test process dies, so no worker outlives a killed test run."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(3)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for option in ("--url", "--prefix", "--queue", "--name"):
        parser.add_argument(option, required=True)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    exit_with_parent()
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s {args.name} %(threadName)s %(levelname)s %(name)s: %(message)s",
    )
    recorder = Recorder(args.url, args.prefix, args.name)
    plugin_manager().register(recorder)
    broker = GrantRecordingBroker.from_url(args.url, prefix=args.prefix)
    broker.recorder = recorder
    app = build_app(broker, args.queue, recorder)
    Worker(
        app,
        name=args.name,
        queues=[args.queue],
        concurrency=args.concurrency,
        heartbeat_interval=1.0,
        visibility_timeout=10.0,
        schedule_poll_interval=0.1,
        reaper_interval=1.0,
        block_timeout=1.0,
        shutdown_grace=5.0,
    ).run()


if __name__ == "__main__":
    main()

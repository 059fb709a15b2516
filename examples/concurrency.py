"""Concurrency: the threads, solo and processes pools, ``async def`` tasks and time limits.

Run from the repository root as a module: ``python -m examples.concurrency``. The processes pool
starts fresh interpreters that import the app as ``examples.concurrency:app``, so the app must
live in an importable module (running the file by path cannot give them one). See
docs/concurrency.md.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any

from taskq_core import AsyncResult, SoftTimeLimitExceeded, TaskError, Taskq, Worker

app = Taskq("memory://")

#: Worker timings short enough for a demo: a child that dies is noticed and redelivered within
#: a fraction of a second (the defaults are a 30 s lease, 5 s heartbeats, a 10 s reaper).
FAST: dict[str, Any] = {
    "heartbeat_interval": 0.2,
    "visibility_timeout": 1.0,
    "reaper_interval": 0.2,
}


@app.task(queue="threads")
def where(seconds: float) -> str:
    """Sleep, then say which thread ran the call."""
    time.sleep(seconds)
    return threading.current_thread().name


@app.task(queue="threads")
async def fetch(seconds: float) -> str:
    """An ``async def`` task: runs on the worker's event loop thread."""
    await asyncio.sleep(seconds)
    return threading.current_thread().name


@app.task(queue="threads", time_limit=0.3, max_retries=0)
def busy_loop() -> None:
    """Pure-Python work: the hard limit stops it at 0.3 s."""
    while True:
        pass


@app.task(queue="threads", time_limit=0.3, max_retries=0)
def blocking_sleep() -> None:
    """One blocking C call: the limit cannot interrupt it, it fires when the call returns."""
    time.sleep(1.0)


@app.task(queue="threads", soft_time_limit=0.2)
def tidy() -> str:
    """Catch the soft limit, clean up, and finish normally."""
    try:
        while True:
            time.sleep(0.01)
    except SoftTimeLimitExceeded:
        return "cleaned up after the soft limit"


@app.task(queue="threads", time_limit=0.3, max_retries=0)
async def hung_request() -> None:
    """An ``async def`` task past its hard limit is cancelled at its ``await``."""
    await asyncio.sleep(10)


@app.task(queue="solo")
def on_solo() -> str:
    """Say which thread ran the call."""
    return threading.current_thread().name


@app.task(queue="processes")
def child_pid() -> int:
    """Say which process ran the call."""
    return os.getpid()


@app.task(queue="processes", time_limit=0.3, max_retries=0)
def stuck_in_c() -> None:
    """The same blocking call as ``blocking_sleep``; in a child, the limit kills the child."""
    time.sleep(10)


@app.task(queue="processes", max_deliveries=2)
def crash() -> None:
    """Kill the child process running it, every time (a segfault, an OOM kill)."""
    os._exit(1)


def timed_failure(result: AsyncResult) -> str:
    """Wait for a call that fails and say how long that took and why."""
    started = time.monotonic()
    try:
        result.get(timeout=10)
    except TaskError as error:
        return f"{error} after {time.monotonic() - started:.1f}s"
    return "no error"


def main() -> None:
    """Run one worker per pool in this process and show how each runs tasks."""
    workers = [
        Worker(app, queues=["threads"], pool="threads", concurrency=4, **FAST),
        Worker(app, queues=["solo"], pool="solo", **FAST),
        Worker(app, queues=["processes"], pool="processes", concurrency=2, **FAST),
    ]
    for worker in workers:
        worker.start()
    try:
        started = time.monotonic()
        names = [r.get(timeout=10) for r in [where.delay(0.5) for _ in range(4)]]
        elapsed = time.monotonic() - started
        print(f"threads: 4 calls of 0.5 s in {elapsed:.1f}s on {len(set(names))} threads")

        started = time.monotonic()
        names = [r.get(timeout=10) for r in [fetch.delay(0.5) for _ in range(4)]]
        elapsed = time.monotonic() - started
        print(f"async: 4 calls of 0.5 s in {elapsed:.1f}s, all on {sorted(set(names))}")

        print(f"solo: ran on {on_solo.delay().get(timeout=10)}")

        pids = {r.get(timeout=10) for r in [child_pid.delay() for _ in range(4)]}
        print(f"processes: parent {os.getpid()} not among children: {os.getpid() not in pids}")

        print(f"time_limit, threads, Python loop: {timed_failure(busy_loop.delay())}")
        print(f"time_limit, threads, time.sleep(1.0): {timed_failure(blocking_sleep.delay())}")
        print(f"time_limit, async: {timed_failure(hung_request.delay())}")
        print(f"time_limit, processes, time.sleep(10): {timed_failure(stuck_in_c.delay())}")
        print(f"soft_time_limit: {tidy.delay().get(timeout=10)}")

        lost = crash.delay()
        print(f"child died twice (max_deliveries=2): {timed_failure(lost)}")
        letter = app.broker.list_dead("processes")[0]
        print(f"DEAD reason: {letter.reason}")
    finally:
        for worker in workers:
            worker.stop()


if __name__ == "__main__":
    # Run the copy of this module that the processes pool's children can import by name.
    from examples.concurrency import main as imported_main

    imported_main()

"""Revoke and expiry: a queued task that never runs, a running one stopped, a call that expires.

Run from the repository root: ``python -m examples.revoke_and_expiry``. Everything runs in this
process on the in-memory broker; see docs/control.md.
"""

from __future__ import annotations

import threading
import time

from taskq_core import TaskExpired, Taskq, TaskRevoked, Worker

app = Taskq("memory://")
started = threading.Event()


@app.task
def report(name: str) -> str:
    """A task that would run at once."""
    return f"report {name}"


@app.task
def crunch() -> str:
    """A long task: 60 s of Python steps, so the threads pool can stop it at any step."""
    started.set()
    deadline = time.monotonic() + 60.0
    while time.monotonic() < deadline:
        time.sleep(0.1)
    return "crunched"


@app.task(expires=0.2)
def quote() -> str:
    """A call that is worthless after 0.2 s: not started by then, it is not run."""
    return "fresh quote"


def main() -> None:
    """Revoke a queued and a running task, and let a call expire before a worker starts."""
    queued = report.delay("monthly")
    print(f"revoke queued: {queued.revoke()}")
    late = quote.delay()
    timely = quote.apply_async(expires=3600.0)  # the call's expires wins over the task's
    time.sleep(0.3)  # no worker yet: `late` expires meanwhile

    worker = Worker(app, concurrency=2, heartbeat_interval=1.0, block_timeout=0.1)
    worker.start()
    try:
        try:
            queued.get(timeout=5)
        except TaskRevoked as exc:
            print(f"queued.get() raised TaskRevoked: {exc}; status={queued.status}")
        try:
            late.get(timeout=5)
        except TaskExpired as exc:
            print(f"late.get() raised TaskExpired: {exc}; status={late.status}")
        print(f"timely.get() -> {timely.get(timeout=5)}")

        running = crunch.delay()
        started.wait(5)
        print(f"revoke running with terminate: {running.revoke(terminate=True)}")
        try:
            running.get(timeout=10)  # the task would take 60 s
        except TaskRevoked:
            print(f"running task stopped; status={running.status}")
        counts = app.broker.counts("default")
        print(f"counts: expired={counts.expired} revoked={counts.revoked}")
    finally:
        worker.stop(timeout=5)


if __name__ == "__main__":
    main()

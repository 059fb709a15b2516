"""Rate limits shared by every worker, and a cap on a queue's messages in flight.

Run from the repository root: ``python -m examples.rate_limits``. Everything runs in this
process on the in-memory broker; see docs/rate-limits.md.
"""

from __future__ import annotations

import threading
import time

from taskq_core import Taskq, Worker

app = Taskq("memory://", queue_limits={"exports": 2})

#: When each call of ``call_api`` started (time.monotonic()).
starts: list[float] = []
#: How many ``export`` calls run right now, and the most that ever ran at once.
running = {"now": 0, "peak": 0}
lock = threading.Lock()


@app.task(queue="api", rate_limit="5/s")
def call_api(n: int) -> int:
    """At most 5 starts in any 1 s window, across all workers of this broker."""
    with lock:
        starts.append(time.monotonic())
    return n


@app.task(queue="api")
def ping() -> str:
    """Not limited: runs at once even while limited calls wait."""
    return "pong"


@app.task(queue="exports")
def export(n: int) -> int:
    """At most 2 in PROCESSING at once (``queue_limits``), however many workers and slots."""
    with lock:
        running["now"] += 1
        running["peak"] = max(running["peak"], running["now"])
    time.sleep(0.1)
    with lock:
        running["now"] -= 1
    return n


def main() -> None:
    """Two single-slot workers share one limit; a third worker meets the exports cap."""
    workers = [Worker(app, queues=["api"], concurrency=1) for _ in range(2)]
    workers.append(Worker(app, queues=["exports"], concurrency=8))
    for worker in workers:
        worker.start()
    try:
        started = time.monotonic()
        limited = [call_api.delay(n) for n in range(12)]
        print(f"ping while 12 limited calls wait: {ping.delay().get(timeout=5)}", end=" ")
        print(f"after {time.monotonic() - started:.1f}s")
        time.sleep(0.2)
        print(f"api queue meanwhile: {app.broker.counts('api').scheduled} waiting in SCHEDULED")
        for result in limited:
            result.get(timeout=10)
        first = min(starts)
        waves = [sum(1 for s in starts if round(s - first) == k) for k in range(3)]
        print(f"12 calls at 5/s over 2 workers: started at about 0 s, 1 s, 2 s: {waves}")
        postponed = sum(w.stats["postponed"] for w in workers[:2])
        retried = sum(w.stats["retried"] for w in workers[:2])
        print(f"postponed {postponed} times, retries used {retried}")

        for result in [export.delay(n) for n in range(10)]:
            result.get(timeout=10)
        print(f"exports: 10 calls, 8 slots, queue_limits=2 -> at most {running['peak']} at once")
    finally:
        for worker in workers:
            worker.stop()


if __name__ == "__main__":
    main()

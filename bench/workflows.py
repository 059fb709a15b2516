"""Overhead of a chord: N members and a callback against N plain tasks, on a real redis-server.

Not a test: it prints numbers and asserts none. It starts its own redis-server (from PATH, no
persistence, free loopback port) and one in-process worker (threads pool, the defaults). Each
round sends N calls of the same task (``double(i)``, results stored) and times from the send
until the worker has finished them: plain tasks with ``delay_many`` until the queue is empty; a
chord with ``chord(...).delay()`` (one atomic script for the chord record and its N members)
until the callback's result is stored. The two alternate, ``--repeats`` times each, and the
medians are compared (the goal is a chord under 1.5x the plain tasks' time).

    /work/venv/bin/python bench/workflows.py              # N=10000, 3 rounds each
    /work/venv/bin/python bench/workflows.py --n 2000 --repeats 1
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from run import redis_server

from taskq_core import Taskq, Worker, chord
from taskq_redis import RedisBroker

#: Pause between two looks at the queue while plain tasks drain, in seconds.
POLL = 0.005


def build(url: str, prefix: str) -> tuple[Taskq, dict[str, object]]:
    broker = RedisBroker.from_url(url, prefix=prefix)
    app = Taskq(broker, default_queue="bench")

    @app.task
    def double(i: int) -> int:
        return 2 * i

    @app.task
    def total(values: list[int]) -> int:
        return sum(values)

    return app, {"double": double, "total": total}


def plain_round(app: Taskq, tasks: dict, n: int) -> float:
    started = time.perf_counter()
    tasks["double"].delay_many([(i,) for i in range(n)])  # type: ignore[attr-defined]
    pause = threading.Event()
    while True:
        counts = app.broker.counts("bench")
        if counts.ready + counts.processing + counts.scheduled == 0:
            return time.perf_counter() - started
        pause.wait(POLL)


def chord_round(app: Taskq, tasks: dict, n: int) -> float:
    started = time.perf_counter()
    double, total = tasks["double"], tasks["total"]
    result = chord((double.s(i) for i in range(n)), total.s()).delay()  # type: ignore[attr-defined]
    value = result.get(timeout=600)
    elapsed = time.perf_counter() - started
    assert value == n * (n - 1), value
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="members / plain tasks per round")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of each kind")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir, redis_server(Path(workdir)) as (url, _):
        app, tasks = build(url, "bench-wf")
        worker = Worker(app, queues=["bench"])
        worker.start()
        try:
            plain_round(app, tasks, min(opts.n, 1000))  # warm-up: connections, scripts
            plain, chords = [], []
            for _ in range(opts.repeats):
                plain.append(plain_round(app, tasks, opts.n))
                chords.append(chord_round(app, tasks, opts.n))
        finally:
            worker.stop(timeout=30)
    p, c = statistics.median(plain), statistics.median(chords)
    print(f"| N = {opts.n} | median s | per task µs | rounds |")
    print("|---|---|---|---|")
    print(f"| plain tasks (delay_many) | {p:.3f} | {p / opts.n * 1e6:.0f} | {plain} |")
    print(f"| chord (N members + callback) | {c:.3f} | {c / opts.n * 1e6:.0f} | {chords} |")
    print(f"\nchord / plain = {c / p:.2f}x (goal: under 1.5x)")


if __name__ == "__main__":
    main()

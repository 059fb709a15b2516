"""Overhead of a chord: N members and a callback against N plain tasks, on a real redis-server.

Not a test: it prints numbers and asserts none. It starts its own redis-server (from PATH, no
persistence, free loopback port) and one in-process worker (threads pool, the defaults). Each
round sends N calls of the same task (``double(i)``, results stored) and times from the send
until the worker has finished them: plain tasks with ``delay_many`` until the queue is empty; a
chord with ``chord(...).delay()`` (one atomic script for the chord record and its N members)
until the callback's result is stored. The two alternate, ``--repeats`` times each, and the
medians are compared (the goal is a chord under 1.5x the plain tasks' time). A third kind of
round, plain tasks of a ``track_started=True`` task, measures what reporting STARTED costs
(one more write per task), which is why it is off by default.

    .venv/bin/python bench/workflows.py              # N=10000, 3 rounds each
    .venv/bin/python bench/workflows.py --n 2000 --repeats 1
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import redis
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

    @app.task(track_started=True)
    def double_started(i: int) -> int:
        return 2 * i

    return app, {"double": double, "total": total, "double_started": double_started}


class Cpu:
    """CPU seconds used by this process (producer and worker) and by redis-server together.

    Wall time on a shared machine moves with its load; CPU time much less, so both are shown.
    """

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)

    def now(self) -> float:
        info = self.client.info("cpu")
        return time.process_time() + float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def plain_round(app: Taskq, tasks: dict, n: int, name: str = "double") -> float:
    started = time.perf_counter()
    tasks[name].delay_many([(i,) for i in range(n)])
    pause = threading.Event()
    while True:
        counts = app.broker.counts("bench")
        if counts.ready + counts.processing + counts.scheduled == 0:
            return time.perf_counter() - started
        pause.wait(POLL)


def chord_round(app: Taskq, tasks: dict, n: int) -> float:
    started = time.perf_counter()
    double, total = tasks["double"], tasks["total"]
    result = chord((double.s(i) for i in range(n)), total.s()).delay()
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
            cpu = Cpu(url)
            plain, chords, started = [], [], []
            cpus: dict[str, list[float]] = {"plain": [], "chord": [], "started": []}
            for _ in range(opts.repeats):
                for kind, times, run in (
                    ("plain", plain, lambda: plain_round(app, tasks, opts.n)),
                    ("chord", chords, lambda: chord_round(app, tasks, opts.n)),
                    (
                        "started",
                        started,
                        lambda: plain_round(app, tasks, opts.n, "double_started"),
                    ),
                ):
                    before = cpu.now()
                    times.append(run())
                    cpus[kind].append(cpu.now() - before)
        finally:
            worker.stop(timeout=30)
    p, c, t = statistics.median(plain), statistics.median(chords), statistics.median(started)
    pc, cc, tc = (statistics.median(cpus[kind]) for kind in ("plain", "chord", "started"))
    n = opts.n
    print(f"| N = {n} | median wall s | wall µs/task | median CPU s (process + Redis) |")
    print("|---|---|---|---|")
    print(f"| plain tasks (delay_many) | {p:.3f} | {p / n * 1e6:.0f} | {pc:.3f} |")
    print(f"| chord (N members + callback) | {c:.3f} | {c / n * 1e6:.0f} | {cc:.3f} |")
    print(f"| plain, track_started=True | {t:.3f} | {t / n * 1e6:.0f} | {tc:.3f} |")
    print(f"\nchord / plain: wall {c / p:.2f}x, CPU {cc / pc:.2f}x (goal: under 1.5x)")
    print(f"track_started / plain: wall {t / p:.2f}x, CPU {tc / pc:.2f}x")


if __name__ == "__main__":
    main()

"""taskq alone: one in-process worker drains N queued tasks, with the resource use of the drain.

Run with the project's virtualenv::

    .venv/bin/python bench/inprocess.py --body redis                  # one GET per task, -c 8
    .venv/bin/python bench/inprocess.py --body sleep5 -c 64 --n 9600
    .venv/bin/python bench/inprocess.py --body asleep50 --ac 1000 --n 20000
    .venv/bin/python bench/inprocess.py --body redis --repeats 3 --json /tmp/a.json

It starts its own redis-server (as ``run.py`` does), queues N tasks with ``delay_many``, then
runs a ``Worker`` in this process until the N-th task ended, and prints, from the first task's
start to the N-th task's end: tasks per second (and against the ideal ``concurrency / body time``
for the sleeping bodies), the process's user and system CPU per task, voluntary and involuntary
context switches per task, and the worker's reserve and ack calls per task with their average
batch size. With ``asleep50``, also how late ``asyncio.sleep`` woke on average.

Unlike ``run.py`` there is no peer and no separate process: this is the quick A/B tool for
changes to the worker (run the two trees in turn, a few times each; the machine's noise is
often larger than the change). Nothing here runs in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import json
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import redis_server

from taskq_core import Taskq, Worker

#: Seconds each sleeping body takes at best.
BODY_SECONDS = {"sleep5": 0.005, "asleep50": 0.05}


class Drain:
    """The marks of one drain: first start, N-th end, rusage at both, the sleeps' overshoot."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.started = itertools.count()
        self.ended = itertools.count(1)
        self.first: tuple[float, resource.struct_rusage] | None = None
        self.last: tuple[float, resource.struct_rusage] | None = None
        self.overshoot: list[float] = []
        self.done = threading.Event()

    def start(self) -> float:
        now = time.perf_counter()
        if next(self.started) == 0:
            self.first = (now, resource.getrusage(resource.RUSAGE_SELF))
        return now

    def end(self) -> None:
        if next(self.ended) == self.n:
            self.last = (time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF))
            self.done.set()


def counted(broker: Any, calls: collections.Counter[str], sizes: collections.Counter[str]) -> None:
    """Count the worker's reserve and ack_many calls on ``broker`` and their batch sizes."""
    reserve, ack_many = broker.reserve, broker.ack_many

    def counted_reserve(*args: Any, **kwargs: Any) -> Any:
        found = reserve(*args, **kwargs)
        calls["reserve"] += 1
        sizes["reserve"] += len(found)
        return found

    def counted_ack_many(deliveries: Any, *args: Any, **kwargs: Any) -> Any:
        calls["ack"] += 1
        sizes["ack"] += len(deliveries)
        return ack_many(deliveries, *args, **kwargs)

    broker.reserve, broker.ack_many = counted_reserve, counted_ack_many


def one_drain(url: str, args: argparse.Namespace) -> dict[str, Any]:
    app = Taskq(url)
    drain = Drain(args.n)
    local = threading.local()

    if args.body == "asleep50":

        @app.task(name="bench.inprocess", ignore_result=True)
        async def task() -> None:
            began = drain.start()
            await asyncio.sleep(0.05)
            drain.overshoot.append(time.perf_counter() - began - 0.05)
            drain.end()

    else:

        @app.task(name="bench.inprocess", ignore_result=True)
        def task() -> None:
            drain.start()
            if args.body == "redis":
                client = getattr(local, "client", None)
                if client is None:
                    client = local.client = redis.Redis.from_url(url)
                client.get("bench:key")
            elif args.body == "sleep5":
                time.sleep(0.005)
            drain.end()

    redis.Redis.from_url(url).flushdb()
    task.delay_many([()] * args.n)
    calls: collections.Counter[str] = collections.Counter()
    sizes: collections.Counter[str] = collections.Counter()
    counted(app.broker, calls, sizes)
    worker = Worker(app, concurrency=args.c, async_concurrency=args.ac, prefetch=args.prefetch)
    runner = threading.Thread(target=worker.run, daemon=True)
    runner.start()
    if not drain.done.wait(600):
        raise SystemExit("the drain did not end within 600 s")
    worker.stop(30)
    assert drain.first is not None
    assert drain.last is not None
    (t0, r0), (t1, r1) = drain.first, drain.last
    n = args.n
    rate = n / (t1 - t0)
    out: dict[str, Any] = {
        "rate": rate,
        "user_us": 1e6 * (r1.ru_utime - r0.ru_utime) / n,
        "sys_us": 1e6 * (r1.ru_stime - r0.ru_stime) / n,
        "vcsw": (r1.ru_nvcsw - r0.ru_nvcsw) / n,
        "ivcsw": (r1.ru_nivcsw - r0.ru_nivcsw) / n,
        "calls_per_task": {k: v / n for k, v in calls.items()},
        "batch": {k: sizes[k] / calls[k] for k in calls},
    }
    if args.body in BODY_SECONDS:
        concurrency = args.ac if args.body == "asleep50" else args.c
        out["of_ideal"] = rate / (concurrency / BODY_SECONDS[args.body])
    if drain.overshoot:
        out["overshoot_ms"] = 1e3 * statistics.mean(drain.overshoot)
    return out


def line(out: dict[str, Any]) -> str:
    text = f"{out['rate']:9,.0f}/s"
    if "of_ideal" in out:
        text += f" ({100 * out['of_ideal']:.0f}% of ideal)"
    text += (
        f"  CPU user {out['user_us']:.1f} + sys {out['sys_us']:.1f} µs/task"
        f"  csw {out['vcsw']:.2f}+{out['ivcsw']:.2f}/task"
    )
    for name in ("reserve", "ack"):
        if name in out["batch"]:
            text += f"  {name} {out['calls_per_task'][name]:.3f}/task x{out['batch'][name]:.1f}"
    if "overshoot_ms" in out:
        text += f"  sleep late {out['overshoot_ms']:.2f} ms"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--body", choices=("noop", "redis", "sleep5", "asleep50"), default="redis")
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("-c", type=int, default=8, help="concurrency (threads)")
    parser.add_argument("--ac", type=int, default=None, help="async concurrency")
    parser.add_argument("--prefetch", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write every run's numbers here")
    args = parser.parse_args()
    if args.body == "asleep50" and args.ac is None:
        args.ac = 1000
    runs = []
    with tempfile.TemporaryDirectory() as workdir, redis_server(Path(workdir)) as (url, _):
        for _ in range(args.repeats):
            out = one_drain(url, args)
            runs.append(out)
            print(f"{args.body} c={args.c} ac={args.ac}: {line(out)}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(runs, indent=2))


if __name__ == "__main__":
    main()

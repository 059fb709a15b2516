"""The multi-process run of ``bench/run.py --multi-process``: 1, 2 and 4 worker processes.

Each library runs its own way of using several cores from one command against the one
redis-server: taskq ``taskq worker --processes N`` (N whole workers, 8 threads each, under one
supervisor), Dramatiq ``dramatiq --processes N --threads 8``, Celery's prefork pool ``-c N``,
Huey ``consumer -k process -w N``, taskiq ``taskiq worker --workers N``. RQ is left out (its
``worker-pool`` is not in the pinned version's stable CLI).

Method: N tasks are queued first (the library's bulk API, untimed); then the worker command
starts. Every process counts its own executions and reports its count every
``PROGRESS_EVERY`` executions over UDP (``common.progress``); the harness merges the reports
into one timeline of executions across processes. Processes boot at different times, so the
throughput is measured only over the window in which every process is consuming: from the
first execution of the last process to start until the first process runs out of work. Redis
CPU per task is ``used_cpu_user + used_cpu_sys`` (``INFO cpu``, sampled every 50 ms) over that
same window, divided by the executions in it; ``1e6 / (Redis CPU µs per task)`` is the tasks/s
one fully busy Redis core would carry for this workload, the basis of a capacity projection.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from common import Receiver

#: Processes per command measured by default.
PROCESS_COUNTS = (1, 2, 4)
#: Each process reports its count every this many executions.
PROGRESS_EVERY = 200
#: Seconds between two ``INFO cpu`` samples of redis-server.
CPU_SAMPLE_SECONDS = 0.05
#: The multi-process equivalent of each library (the ``--config`` of its worker).
SETTINGS = {
    "taskq": "taskq worker --processes {n} (each: threads pool, -c 8)",
    "dramatiq": "dramatiq --processes {n} --threads 8",
    "celery": "celery worker --pool prefork -c {n}",
    "huey": "huey consumer -k process -w {n}",
    "taskiq": "taskiq worker --workers {n} --max-async-tasks 100",
}


@dataclass
class Sample:
    """One report of one process: ``done`` executions started before time ``t_ns``."""

    pid: int
    done: int
    t_ns: int


class CpuSampler:
    """Samples redis-server's CPU seconds (user + sys) with timestamps, in a thread."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.samples: list[tuple[int, float]] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.is_set():
            info = self.client.info("cpu")
            cpu = float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
            self.samples.append((time.monotonic_ns(), cpu))
            self.stopping.wait(CPU_SAMPLE_SECONDS)

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        self.client.close()

    def at(self, t_ns: int) -> float:
        """CPU seconds at ``t_ns``, interpolated between the samples around it."""
        before = [s for s in self.samples if s[0] <= t_ns] or self.samples[:1]
        after = [s for s in self.samples if s[0] >= t_ns] or self.samples[-1:]
        (t0, c0), (t1, c1) = before[-1], after[0]
        return c0 if t1 == t0 else c0 + (c1 - c0) * (t_ns - t0) / (t1 - t0)


def total_at(samples: list[Sample], t_ns: int) -> int:
    """Executions across all processes by ``t_ns``: each process's latest count."""
    latest: dict[int, int] = {}
    for sample in samples:
        if sample.t_ns <= t_ns:
            latest[sample.pid] = max(latest.get(sample.pid, 0), sample.done)
    return sum(latest.values())


def window(samples: list[Sample]) -> tuple[int, int] | None:
    """From the first execution of the last process to start to the first one's last report."""
    by_pid: dict[int, list[int]] = {}
    for sample in samples:
        by_pid.setdefault(sample.pid, []).append(sample.t_ns)
    start = max(min(times) for times in by_pid.values())
    end = min(max(times) for times in by_pid.values())
    return (start, end) if end > start else None


def measure(
    lib: str,
    processes: int,
    url: str,
    client: redis.Redis,
    n: int,
    refill: Callable[[], dict],
    start_worker: Callable[..., Any],
) -> dict:
    """Queue ``n`` tasks, run ``lib``'s worker command with ``processes`` processes, measure."""
    client.flushall()
    queued = refill()
    if "error" in queued:
        return queued
    receiver = Receiver()
    sampler = CpuSampler(url)
    worker = start_worker(
        lib,
        url,
        f"processes={processes}",
        BENCH_PROGRESS_EVERY=str(PROGRESS_EVERY),
        BENCH_REPORT_ADDR=receiver.addr,
    )
    samples: list[Sample] = []
    try:
        deadline = time.monotonic() + max(120.0, n / 50)
        while time.monotonic() < deadline:
            report = receiver.get(1.0)
            if report is not None:
                samples.append(Sample(report["pid"], report["done"], report["t_ns"]))
                continue
            if not worker.alive():
                return {"error": f"{lib} worker exited early:\n{worker.tail()}"}
            # A second without reports after most tasks ran: the queue is empty.
            if total_at(samples, time.monotonic_ns()) >= n - processes * PROGRESS_EVERY:
                break
        else:
            return {"error": f"{lib} worker did not finish {n} tasks:\n{worker.tail()}"}
    finally:
        sampler.stop()
        worker.stop()
        receiver.close()
    pids = {sample.pid for sample in samples}
    span = window(samples)
    if len(pids) < processes or span is None:
        return {"error": f"{lib}: {len(pids)} of {processes} processes ran tasks; raise --n"}
    start, end = span
    executed = total_at(samples, end) - total_at(samples, start)
    seconds = (end - start) / 1e9
    redis_cpu = sampler.at(end) - sampler.at(start)
    return {
        "rate": executed / seconds,
        "window_tasks": executed,
        "processes_seen": len(pids),
        "redis_cpu_us_per_task": redis_cpu * 1e6 / executed,
    }


def run(
    libs: list[str],
    url: str,
    client: redis.Redis,
    n: int,
    repeats: int,
    counts: tuple[int, ...],
    refill_for: Callable[[str], Callable[[], dict]],
    start_worker: Callable[..., Any],
    log: Callable[[str], None],
) -> dict[str, dict[int, list[dict]]]:
    """Every library at every process count, ``repeats`` times, interleaved by repeat."""
    results: dict[str, dict[int, list[dict]]] = {lib: {c: [] for c in counts} for lib in libs}
    for repeat in range(repeats):
        for lib in libs:
            for count in counts:
                out = measure(lib, count, url, client, n, refill_for(lib), start_worker)
                results[lib][count].append(out)
                shown = (
                    f"ERROR {out['error'].splitlines()[0][:200]}"
                    if "error" in out
                    else f"{out['rate']:,.0f}/s, Redis CPU {out['redis_cpu_us_per_task']:.1f} "
                    f"µs/task"
                )
                log(f"  multi-process {lib} x{count} (repeat {repeat + 1}/{repeats}): {shown}")
    return results


def _median(runs: list[dict], key: str) -> float | None:
    values = [run[key] for run in runs if key in run]
    return statistics.median(values) if values else None


def _spread(runs: list[dict], key: str) -> str:
    values = [run[key] for run in runs if key in run]
    if len(values) < 2:
        return ""
    return f" ({min(values):,.0f}-{max(values):,.0f})"


def report(results: dict[str, dict[int, list[dict]]], counts: tuple[int, ...]) -> str:
    """The markdown tables: throughput per process count, scaling, Redis CPU, ratios."""
    header = ["library", "command", *(f"{c} proc /s" for c in counts)]
    header += [f"{counts[-1]}/{counts[0]} scaling", f"Redis CPU µs/task ({counts[-1]} proc)"]
    header += ["tasks/s per Redis core"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    rates: dict[str, dict[int, float | None]] = {}
    for lib, by_count in results.items():
        rates[lib] = {c: _median(by_count[c], "rate") for c in counts}
        cells = [lib, SETTINGS[lib].format(n="N")]
        for c in counts:
            rate = rates[lib][c]
            cells.append("-" if rate is None else f"{rate:,.0f}{_spread(by_count[c], 'rate')}")
        first, last = rates[lib][counts[0]], rates[lib][counts[-1]]
        cells.append(f"{last / first:.2f}x" if first and last else "-")
        cpu = _median(by_count[counts[-1]], "redis_cpu_us_per_task")
        cells.append("-" if cpu is None else f"{cpu:.1f}")
        cells.append("-" if not cpu else f"{1e6 / cpu:,.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    peers = [lib for lib in results if lib != "taskq"]
    if "taskq" in results and peers:
        lines += [
            "",
            "Ratios taskq / best peer at each process count (>1: taskq drains faster):",
            "",
        ]
        lines.append("| " + " | ".join(f"{c} proc" for c in counts) + " |")
        lines.append("|" + "---|" * len(counts))
        cells = []
        for c in counts:
            mine = rates["taskq"][c]
            best = max(((rates[p][c] or 0.0, p) for p in peers), default=(0.0, "-"))
            cells.append(f"{mine / best[0]:.2f}x vs {best[1]}" if mine and best[0] else "-")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Throughput is measured while every process consumes (see bench/multiprocess.py); "
        "medians, with the spread of the repeats in brackets. Tasks/s per Redis core = 1e6 / "
        "Redis CPU µs per task: what one fully busy redis-server would carry for this workload.",
    ]
    return "\n".join(lines)

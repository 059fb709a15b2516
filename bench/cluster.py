"""taskq worker processes against one redis-server and against a 3-primary Redis Cluster.

Run from the repository root with the project's virtualenv (the one ``bench/run.py`` runs in;
the cluster is started by ``tests/support/cluster.py``, so pytest must be installed too)::

    python bench/cluster.py                     # N=20000, 1, 2 and 4 processes, 1 repeat
    python bench/cluster.py --n 50000 --processes 1,4 --repeats 3

Each step starts ``taskq worker --processes P`` on three queues whose hash tags sit on three
different primaries (on one redis-server they are just three queues), lets it go idle, sends N
no-op tasks spread over the queues with ``delay_many``, and times from the first send until
every queue is empty (all acked). Redis CPU per task is the sum over the primaries of
``used_cpu_sys + used_cpu_user`` (``INFO cpu``) across the step, divided by N: what one task
costs the servers, from which the note's capacity projection is made. Peers have no Redis
Cluster support, so this compares taskq with itself. Nothing here is asserted anywhere.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from redis.crc import key_slot

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.cluster import RedisCluster, free_port  # noqa: E402

#: The worker's app: one no-op task on the URL of the step.
APP_SOURCE = """
import os
from taskq_core import Taskq
app = Taskq(os.environ["BENCH_URL"])

@app.task(name="bench.noop", ignore_result=True)
def noop() -> None:
    pass
"""

#: Slot ranges ``redis-cli --cluster create`` gives three primaries.
PRIMARY_SLOTS = ((0, 5460), (5461, 10922), (10923, 16383))


def queues_on_three_primaries() -> list[str]:
    """Three queue names whose hash tags fall in the slot ranges of three different primaries."""
    chosen: list[str] = []
    for low, high in PRIMARY_SLOTS:
        n = 0
        while not low <= key_slot(f"bq{n}".encode()) <= high:
            n += 1
        chosen.append(f"bq{n}")
    return chosen


@contextmanager
def one_server(directory: Path) -> Iterator[tuple[str, list[int]]]:
    """A redis-server on a free loopback port: its URL and its port."""
    port = free_port()
    process = subprocess.Popen(
        [
            *("redis-server", "--bind", "127.0.0.1", "--port", str(port)),
            *("--dir", str(directory), "--save", "", "--appendonly", "no"),
            *("--logfile", "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 30
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    try:
        yield f"redis://127.0.0.1:{port}/0", [port]
    finally:
        process.kill()
        process.wait(30)


@contextmanager
def three_primaries(directory: Path) -> Iterator[tuple[str, list[int]]]:
    """A 3-primary cluster (each with a replica): its URL and the primaries' ports."""
    cluster = RedisCluster(directory)
    try:
        cluster.start()
        primaries = [
            p for p in cluster.ports if "role:master" in cluster.cli(p, "info", "replication")
        ]
        yield cluster.url, primaries
    finally:
        cluster.stop()


def redis_cpu(ports: list[int]) -> float:
    """Seconds of CPU the servers on ``ports`` have used (system + user)."""
    total = 0.0
    for port in ports:
        info = redis.Redis(port=port).info("cpu")
        total += float(info["used_cpu_sys"]) + float(info["used_cpu_user"])
    return total


def step(url: str, ports: list[int], processes: int, n: int, workdir: Path) -> dict[str, float]:
    """One drain of ``n`` tasks by ``processes`` worker processes; tasks/s and Redis µs/task."""
    from taskq_core import Taskq

    queues = queues_on_three_primaries()
    env = {**os.environ, "BENCH_URL": url, "PYTHONPATH": str(workdir)}
    worker = subprocess.Popen(
        [
            *(sys.executable, "-m", "taskq_core", "worker", "bench_app:app"),
            *("--processes", str(processes), "-Q", ",".join(queues), "--loglevel", "ERROR"),
        ],
        env=env,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    app = Taskq(url)
    task = app.task(name="bench.noop", ignore_result=True)(lambda: None)
    try:
        wait_until(lambda: len(app.broker.list_alive_workers(within=30)) >= processes, 60)
        cpu_before = redis_cpu(ports)
        started = time.perf_counter()
        share = n // len(queues)
        for queue in queues:
            task.delay_many([() for _ in range(share)], queue=queue)
        wait_until(lambda: drained(app, queues), 600)
        elapsed = time.perf_counter() - started
        cpu = redis_cpu(ports) - cpu_before
        sent = share * len(queues)
        return {"rate": sent / elapsed, "redis_us": cpu / sent * 1e6}
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(60)
        app.close()


def drained(app: object, queues: list[str]) -> bool:
    """Whether every queue is empty: nothing READY, SCHEDULED or PROCESSING."""
    broker = app.broker  # type: ignore[attr-defined]
    for queue in queues:
        counts = broker.counts(queue)
        if counts.ready or counts.scheduled or counts.processing:
            return False
    return True


def wait_until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the step did not finish in time")
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="tasks per step")
    parser.add_argument("--processes", default="1,2,4", help="worker processes per step")
    parser.add_argument("--repeats", type=int, default=1, help="medians over this many runs")
    args = parser.parse_args()
    counts = [int(p) for p in args.processes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "bench_app.py").write_text(APP_SOURCE)
        for topology, start in (
            ("one redis-server", one_server),
            ("3-primary cluster", three_primaries),
        ):
            servers = workdir / topology.replace(" ", "-")
            servers.mkdir()
            with start(servers) as (url, ports):
                for processes in counts:
                    runs = [
                        step(url, ports, processes, args.n, workdir) for _ in range(args.repeats)
                    ]
                    rate = statistics.median(r["rate"] for r in runs)
                    redis_us = statistics.median(r["redis_us"] for r in runs)
                    rows.append((topology, processes, rate, redis_us))
                    print(
                        f"{topology}, {processes} process(es): {rate:,.0f} tasks/s", file=sys.stderr
                    )
    print(f"N={args.n}, {os.cpu_count()} CPUs, medians of {args.repeats} run(s)\n")
    print("| servers | worker processes | tasks/s | Redis CPU µs/task (all primaries) |")
    print("|---|---|---|---|")
    for topology, processes, rate, redis_us in rows:
        print(f"| {topology} | {processes} | {rate:,.0f} | {redis_us:.1f} |")


if __name__ == "__main__":
    main()

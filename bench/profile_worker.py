"""Profile the taskq worker draining N queued no-ops, and print its hot spots.

Run with the project's virtualenv::

    .venv/bin/python bench/profile_worker.py --n 20000 --config "pool=threads,c=8,prefetch=8"
    .venv/bin/python bench/profile_worker.py --producer     # profile delay() instead

It starts its own redis-server, queues N tasks with ``delay_many``, starts the worker exactly as
``bench/run.py`` does (``taskq worker`` in its own process) under ``py-spy record`` (sampling,
every thread, only samples that hold the GIL by default, so the numbers are shares of the one
core Python code can use), waits for the N-th task to end and prints:

* self time: the functions whose own code was on CPU (leaf frames), top ``--top``;
* total time: functions with their callees, restricted to taskq, redis-py, pydantic, logging,
  json and pluggy frames (the hot path candidates), top ``--top``.

py-spy is not a project dependency: it is taken from ``bench/.peers-venv`` (``pip install
py-spy`` there) or from PATH. Samples in module imports (worker boot) are dropped.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH / "peers"))
import run  # noqa: E402
from bench_taskq import worker_flags  # noqa: E402
from common import Receiver  # noqa: E402

INTERESTING = ("taskq_", "redis/", "pydantic", "logging/", "json/", "pluggy")
BOOT_MARKERS = ("_find_and_load", "_load_unlocked", "exec_module")


def find_py_spy() -> str:
    candidate = run.PEERS_VENV / "bin" / "py-spy"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("py-spy")
    if found is None:
        sys.exit(f"py-spy not found: {run.PEERS_PYTHON} -m pip install py-spy")
    return found


def parse_raw(path: Path) -> tuple[collections.Counter, collections.Counter, int]:
    """Self and total sample counts per frame from py-spy's collapsed-stack output."""
    self_counts: collections.Counter[str] = collections.Counter()
    total_counts: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        if any(marker in frame for frame in frames for marker in BOOT_MARKERS):
            continue
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        samples += count
        self_counts[short(frames[-1])] += count
        for frame in {short(f) for f in frames}:
            total_counts[frame] += count
    return self_counts, total_counts, samples


def short(frame: str) -> str:
    """``func (path/to/module.py:line)`` with the path cut to the package and no line."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path = where.rsplit(":", 1)[0]
    for anchor in ("site-packages/", "/src/", "python3.11/", "lib/python3"):
        if anchor in path:
            path = path.split(anchor, 1)[1]
            break
    return f"{name} ({path})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--config", default="default", help="worker config, as in run.py")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--rate", type=int, default=500, help="py-spy samples per second")
    parser.add_argument("--all-threads", action="store_true", help="also samples without GIL")
    parser.add_argument("--producer", action="store_true", help="profile N delay() calls")
    parser.add_argument("--keep", type=Path, help="copy py-spy's raw output here")
    parser.add_argument(
        "--cprofile",
        action="store_true",
        help="instead of py-spy: run the worker in this process under cProfile (every thread) "
        "and print calls per task and own time; slower, but exact call counts",
    )
    args = parser.parse_args()
    if args.cprofile:
        cprofile_drain(args)
        return
    py_spy = find_py_spy()

    with tempfile.TemporaryDirectory(prefix="taskq-prof-") as tmp:
        raw = Path(tmp) / "profile.txt"
        with run.redis_server(Path(tmp)) as (url, _server):
            client = redis.Redis.from_url(url)
            spy = [py_spy, "record", "--format", "raw", "-o", str(raw), "--rate", str(args.rate)]
            if not args.all_threads:
                spy.append("--gil")
            if args.producer:
                cmd = [sys.executable, str(run.PEERS_DIR / "scenario.py"), "taskq", "send"]
                proc = subprocess.run(
                    [*spy, "--", *cmd, "--n", str(args.n)],
                    env=run.step_env(url),
                    capture_output=True,
                    text=True,
                    check=False,
                )
                print(proc.stdout.strip().splitlines()[-1] if proc.stdout else proc.stderr[-2000:])
            else:
                filled = run.run_step("taskq", url, "bulk", "--n", str(args.n))
                if "error" in filled:
                    sys.exit(filled["error"])
                receiver = Receiver()
                exe = shutil.which("taskq", path=str(Path(sys.executable).parent))
                assert exe is not None
                cmd = [exe, "worker", "bench_taskq:app", "--broker", url, "--loglevel", "WARNING"]
                env = run.step_env(url, BENCH_DRAIN_N=str(args.n), BENCH_REPORT_ADDR=receiver.addr)
                spied = subprocess.Popen(
                    [*spy, "--", *cmd, *worker_flags(args.config)],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                    start_new_session=True,
                )
                report = receiver.get(max(120.0, args.n / 100))
                # SIGINT to py-spy's group: the worker stops gracefully, py-spy writes its file
                run_os_killpg(spied.pid, signal.SIGINT)
                try:
                    _, err = spied.communicate(timeout=60)
                except subprocess.TimeoutExpired:
                    run_os_killpg(spied.pid, signal.SIGKILL)
                    _, err = spied.communicate()
                if report is None:
                    sys.exit(f"worker did not finish: {err[-2000:]}")
                seconds = (report["last_end_ns"] - report["first_start_ns"]) / 1e9
                print(
                    f"drain under py-spy: {args.n / seconds:,.0f} tasks/s, worker CPU "
                    f"{report['cpu_ns'] / 1e3 / args.n:.0f} µs/task ({args.config})"
                )
            client.close()
        time.sleep(0.2)
        if not raw.exists():
            sys.exit("py-spy wrote no profile")
        if args.keep:
            shutil.copy(raw, args.keep)
        self_counts, total_counts, samples = parse_raw(raw)

    kind = "all threads" if args.all_threads else "GIL-holding samples"
    print(f"\n{samples} samples ({kind}), boot imports excluded\n")
    print(f"Self time, top {args.top}:")
    for frame, count in self_counts.most_common(args.top):
        print(f"  {100 * count / samples:5.1f}%  {frame}")
    print(f"\nTotal time (with callees), taskq/redis/pydantic/logging/json/pluggy, top {args.top}:")
    shown = 0
    for frame, count in total_counts.most_common():
        if any(key in frame for key in INTERESTING):
            print(f"  {100 * count / samples:5.1f}%  {frame}")
            shown += 1
            if shown >= args.top:
                break


def cprofile_drain(args: argparse.Namespace) -> None:
    """Drain N tasks with an in-process Worker, one cProfile.Profile per thread, merged."""
    import cProfile
    import pstats
    import threading

    import bench_taskq
    import common

    from taskq_core import Worker

    profiles: list[cProfile.Profile] = []
    original_run = threading.Thread.run

    def profiled_run(self: threading.Thread) -> None:
        profile = cProfile.Profile()
        profiles.append(profile)
        profile.enable()
        try:
            original_run(self)
        finally:
            profile.disable()

    kwargs: dict = {}
    for flag, value in zip(*[iter(worker_flags(args.config))] * 2, strict=True):
        key = flag.lstrip("-")
        kwargs[key] = value if key == "pool" else int(value)
    with (
        tempfile.TemporaryDirectory(prefix="taskq-prof-") as tmp,
        run.redis_server(Path(tmp)) as (url, _server),
    ):
        filled = run.run_step("taskq", url, "bulk", "--n", str(args.n))
        if "error" in filled:
            sys.exit(filled["error"])
        receiver = Receiver()
        host, port = receiver.addr.split(":")
        common.DRAIN_N, common.REPORT_ADDR = args.n, (host, int(port))
        bench_taskq.app.use_broker(url)
        threading.Thread.run = profiled_run  # type: ignore[method-assign]
        worker = Worker(bench_taskq.app, **kwargs)
        worker.start()
        report = receiver.get(max(120.0, args.n / 50))
        worker.stop(timeout=10)
        threading.Thread.run = original_run  # type: ignore[method-assign]
        bench_taskq.app.close()
    if report is None:
        sys.exit("worker did not finish")
    seconds = (report["last_end_ns"] - report["first_start_ns"]) / 1e9
    print(f"drain under cProfile: {args.n / seconds:,.0f} tasks/s ({args.config})\n")
    stats = pstats.Stats(*[p for p in profiles if p.getstats()])
    idle = ("acquire' of '_thread.lock", "'wait'", "time.sleep", "select.", "'poll'")
    rows = [
        item
        for item in stats.stats.items()  # type: ignore[attr-defined]
        if not any(mark in item[0][2] for mark in idle)
    ]
    rows.sort(key=lambda kv: -kv[1][2])
    total = sum(stat[2] for _, stat in rows)
    print(f"Own time of all threads without idle lock/timer waits, top {args.top}:")
    print("  share  calls/task  function")
    for (path, line, name), (_, calls, own, _cum, _) in rows[: args.top]:
        where = short(f"{name} ({path}:{line})")
        print(f"  {100 * own / total:5.1f}%  {calls / args.n:9.2f}  {where}")


def run_os_killpg(pid: int, sig: int) -> None:
    import contextlib
    import os

    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


if __name__ == "__main__":
    main()

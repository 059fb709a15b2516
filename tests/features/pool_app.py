"""The app of the process-pool tests, at module level so pool children can import it.

Children are fresh interpreters that import ``tests.features.pool_app:app`` from the repository
root. They share nothing with the test process but the file system, so each task takes a
directory of its own test (``tmp_path``) and leaves its traces there: one line in ``runs`` per
execution, and the child's pid in ``pid``. The test process gives the app its broker; a child
never touches one.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from taskq_core import SoftTimeLimitExceeded, Taskq

app = Taskq()

#: Seconds a task sleeps when no limit stops it; far beyond every limit used here.
RUNAWAY = 20.0


def note_run(state_dir: str) -> int:
    """Append this execution to ``runs`` and write this child's pid; returns the run number."""
    directory = Path(state_dir)
    (directory / "pid").write_text(str(os.getpid()))
    with (directory / "runs").open("a") as runs:
        runs.write(f"{os.getpid()}\n")
    return len((directory / "runs").read_text().splitlines())


def runs(state_dir: str) -> list[int]:
    """Pid of the child of each execution so far, in order."""
    path = Path(state_dir) / "runs"
    return [int(line) for line in path.read_text().splitlines()] if path.exists() else []


@app.task(name="features.pool.exit_first_time")
def exit_first_time(state_dir: str) -> str:
    """Kill the child on the first execution; succeed on the next."""
    if note_run(state_dir) == 1:
        os._exit(1)
    return "survived"


@app.task(name="features.pool.always_exit", max_deliveries=2)
def always_exit(state_dir: str) -> None:
    """Kill the child on every execution."""
    note_run(state_dir)
    os._exit(1)


@app.task(name="features.pool.stuck", time_limit=0.5, max_retries=0)
def stuck(state_dir: str) -> None:
    """Sleep in one C call, which only killing the process can stop."""
    note_run(state_dir)
    time.sleep(RUNAWAY)


@app.task(name="features.pool.tidy", soft_time_limit=0.3)
def tidy(state_dir: str) -> str:
    """Sleep past the soft limit, catch it, and say so."""
    note_run(state_dir)
    try:
        time.sleep(RUNAWAY)
    except SoftTimeLimitExceeded:
        return "cleaned up"
    return "never interrupted"


@app.task(name="features.pool.whoami")
def whoami() -> int:
    """The pid of the process running the task."""
    return os.getpid()


#: Memory a child holds on to for good: what ``grow_to`` leaks.
HOARD: list[bytearray] = []


@app.task(name="features.pool.grow_to")
def grow_to(kib: int) -> tuple[int, int]:
    """Leak memory until this child's resident memory passes ``kib``; returns (pid, KiB)."""
    from taskq_core.worker.recycling import resident_kib

    while (resident_kib() or 0) <= kib:
        HOARD.append(bytearray(b"\x01") * (1 << 20))  # written, so resident
    return os.getpid(), resident_kib() or 0


@app.task(name="features.pool.whoami_and_memory")
def whoami_and_memory() -> tuple[int, int]:
    """The pid of the child and its resident memory in KiB."""
    from taskq_core.worker.recycling import resident_kib

    return os.getpid(), resident_kib() or 0


@app.task(name="features.pool.sleep_long")
def sleep_long(state_dir: str) -> str:
    """Sleep a minute in one C call: only killing the child stops it sooner."""
    note_run(state_dir)
    time.sleep(60.0)
    return "slept"

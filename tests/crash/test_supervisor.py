"""``taskq worker --processes N``: real supervised worker processes, killed for real.

The supervisor runs the ``taskq worker`` command on ``supervised_app:app`` (``worker_app``'s
app with its recording hooks), so every process records under the test's prefix with its own
pid. Promises checked: N processes consume; a SIGKILLed process is restarted and no accepted
task is lost; the first SIGTERM lets running tasks finish in every process before all exit;
a second signal stops them without waiting; a SIGKILLed supervisor takes its processes down.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from .harness import WORKER_APP, Crash, WorkerProcess

#: ``taskq worker`` options matching the harness's fast timings that the command line offers.
FAST_OPTIONS = [
    "--visibility-timeout", "2",
    "--heartbeat-interval", "0.5",
    "-c", "1",
    "--prefetch", "0",
]  # fmt: skip


def start_supervisor(
    crash: Crash, processes: int, *, by_variable: bool = False, grace: str = "20"
) -> WorkerProcess:
    """Start ``taskq worker --processes N`` on the test's queue; wait until N are consuming.

    ``by_variable`` asks for the processes through ``TASKQ_WORKER_PROCESSES`` instead.
    """
    name = f"{crash.prefix}-sup"
    argv = [sys.executable, "-m", "taskq_core", "worker", "supervised_app:app", *FAST_OPTIONS]
    argv += ["--shutdown-grace", grace]
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "TASKQ_DISABLE_PLUGIN_AUTOLOAD": "1",
        "TASKQ_CRASH_URL": crash.server.url,
        "TASKQ_CRASH_PREFIX": crash.prefix,
        "TASKQ_CRASH_QUEUE": crash.queue,
        "TASKQ_CRASH_NAME": name,
        "TASKQ_CRASH_RECORD_ACKS": "1",
    }
    if by_variable:
        env["TASKQ_WORKER_PROCESSES"] = str(processes)
    else:
        argv += ["--processes", str(processes)]
    log_path = crash.log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=WORKER_APP.parent,
            start_new_session=True,
        )
    supervisor = WorkerProcess(name, process, log_path)
    crash.workers.append(supervisor)
    crash.wait_until(
        lambda: len(live_pids(crash, supervisor)) == processes,
        what=f"{processes} supervised processes are consuming",
    )
    return supervisor


def ready_pids(crash: Crash) -> set[int]:
    """Pids of every worker process that started consuming in this test."""
    return {record["pid"] for record in crash.records("ready")}


def parent(pid: int) -> int | None:
    """The parent pid of a running (not zombie) process, or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    state, ppid = stat.rsplit(")", 1)[1].split()[:2]
    return None if state == "Z" else int(ppid)


def live_pids(crash: Crash, supervisor: WorkerProcess) -> set[int]:
    """Consuming processes that are children of the supervisor and still running."""
    if not supervisor.alive:
        raise AssertionError(f"the supervisor exited\n{supervisor.log_tail()}")
    return {pid for pid in ready_pids(crash) if parent(pid) == supervisor.pid}


def running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    return parent(pid) is not None


def holders(crash: Crash) -> dict[str, int]:
    """Label of each ``crash.held`` task that is running -> pid of the process running it."""
    return {record["label"]: record["pid"] for record in crash.records("holding")}


def test_processes_all_consume_from_the_variable(crash: Crash) -> None:
    # Given a supervisor asked for three processes through TASKQ_WORKER_PROCESSES
    supervisor = start_supervisor(crash, 3, by_variable=True)
    pids = live_pids(crash, supervisor)
    # When three tasks that wait for the gate are sent (one slot per process, no prefetch)
    for label in "abc":
        crash.send("crash.held", label)
    # Then each process runs one of them at once
    crash.wait_until(lambda: len(holders(crash)) == 3, what="three tasks are running")
    assert set(holders(crash).values()) == pids
    crash.open_gate()
    crash.wait_all_acked()
    crash.check_invariants()


def test_a_killed_process_is_restarted_and_its_task_redelivered(crash: Crash) -> None:
    # Given two supervised processes, one of them running a task
    supervisor = start_supervisor(crash, 2)
    held = crash.send("crash.held", "victim")
    crash.wait_until(lambda: "victim" in holders(crash), what="the task is running")
    victim = holders(crash)["victim"]
    # When that process is SIGKILLed
    os.kill(victim, signal.SIGKILL)
    # Then the supervisor starts a replacement, so two processes consume again
    crash.wait_until(
        lambda: len(live_pids(crash, supervisor)) == 2 and not running(victim),
        what="a replacement process is consuming",
    )
    # And the task comes back through its lease and completes; later tasks complete too
    crash.open_gate()
    more = [crash.send("crash.work") for _ in range(10)]
    crash.wait_all_acked([held, *more])
    assert victim not in {pid for pid in ready_pids(crash) if running(pid)}
    where = crash.check_invariants()
    assert set(where.values()) == {"acked"}


def test_sigterm_lets_every_process_finish_its_task(crash: Crash) -> None:
    # Given two supervised processes, each running a task
    supervisor = start_supervisor(crash, 2)
    ids = [crash.send("crash.held", label) for label in ("one", "two")]
    crash.wait_until(lambda: len(holders(crash)) == 2, what="both tasks are running")
    pids = set(holders(crash).values())
    # When the supervisor gets SIGTERM, then the gate opens
    supervisor.signal(signal.SIGTERM)
    crash.wait_until(
        lambda: "stopping the worker processes gracefully" in supervisor.log(),
        what="the supervisor forwarded the stop",
    )
    assert supervisor.alive
    crash.open_gate()
    # Then both running tasks finish and are acked once, and everything exits cleanly
    crash.wait_until(lambda: supervisor.process.poll() is not None, what="the supervisor exits")
    assert supervisor.process.returncode == 0, supervisor.log_tail()
    assert not any(running(pid) for pid in pids)
    assert crash.tally("acked") == dict.fromkeys(ids, 1)
    assert {record["pid"] for record in crash.records("finished")} == pids
    crash.check_invariants()


def test_a_second_signal_stops_without_waiting(crash: Crash) -> None:
    # Given a supervised process running a task that waits for a gate nobody opens
    supervisor = start_supervisor(crash, 2, grace="600")
    held = crash.send("crash.held", "stuck")
    crash.wait_until(lambda: "stuck" in holders(crash), what="the task is running")
    # When SIGTERM comes twice
    supervisor.signal(signal.SIGTERM)
    crash.wait_until(
        lambda: "stopping the worker processes gracefully" in supervisor.log(),
        what="the supervisor forwarded the first stop",
    )
    supervisor.signal(signal.SIGTERM)
    # Then every process exits within the deadline instead of the 600 s grace
    crash.wait_until(lambda: supervisor.process.poll() is not None, what="the supervisor exits")
    assert not running(holders(crash)["stuck"])
    # And the unfinished task was not acked: it stays accepted for another worker
    assert held not in crash.tally("acked")
    assert crash.check_invariants([held])[held] in {"ready", "processing"}


def test_a_killed_supervisor_takes_its_processes_down(crash: Crash) -> None:
    # Given a supervisor and its two processes
    supervisor = start_supervisor(crash, 2)
    pids = live_pids(crash, supervisor)
    # When the supervisor is SIGKILLed
    supervisor.kill()
    # Then none of its processes keeps running
    crash.wait_until(
        lambda: not any(running(pid) for pid in pids), what="the supervised processes are gone"
    )

"""A SIGKILLed ``--pool processes`` worker takes its children with it.

An orphaned child would finish its task while the task's lease runs out and another worker runs
it again, and a runaway child would never end. The worker here runs two ``crash.held`` tasks,
each in a child of its own, which record their pid and block until the test opens the gate.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def process_gone(pid: int) -> bool:
    """True once ``pid`` has exited; a zombie nobody reaped yet counts as exited (on Linux)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return Path("/proc/self").exists()  # gone meanwhile; without /proc, a zombie looks alive
    # The state follows the command name, which is in parentheses and may hold spaces.
    return stat.rpartition(")")[2].split()[0] == "Z"


def test_children_of_a_killed_processes_pool_worker_die_and_never_finish_its_tasks(crash):
    # Given a processes-pool worker whose two children each run a task that blocks
    first = crash.start_worker(pool="processes", concurrency=2)
    labels = ["a", "b"]
    ids = [crash.send("crash.held", label) for label in labels]
    holding = crash.wait_until(
        lambda: len(crash.records("holding")) == 2 and crash.records("holding"),
        what="both tasks run in children of the first worker",
    )
    children = {record["pid"] for record in holding}
    assert len(children) == 2
    assert first.pid not in children

    # When the worker is SIGKILLed
    first.kill()

    # Then its children are gone within seconds
    crash.wait_until(
        lambda: all(process_gone(pid) for pid in children),
        what=f"the children {sorted(children)} of the killed worker exited",
    )

    # And once the gate opens, the tasks run to the end only on the worker they are redelivered
    # to: no orphan finished one
    crash.open_gate()
    second = crash.start_worker(pool="processes", concurrency=2)
    crash.wait_all_acked(ids)
    finished = crash.records("finished")
    assert sorted(record["label"] for record in finished) == labels
    assert {record["worker"] for record in finished} == {second.name}
    assert not children & {record["pid"] for record in finished}
    for message_id in ids:
        assert crash.deliveries(message_id) == [(1, first.name), (2, second.name)]
    assert crash.check_invariants() == dict.fromkeys(ids, "acked")

"""A pool child's two ways of dying with its worker, each on its own (``worker/lifeline.py``).

The crash test ``tests/crash/test_orphans.py`` SIGKILLs a real worker, where the parent-death
signal alone would end its children on Linux. Here the test process plays the worker, so it stays
alive: what ends the child is the lifeline closing, or finding its worker already gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from taskq_core.worker.lifeline import EXIT_ORPHANED, Lifeline

#: Longest wait for a child to exit, in seconds; reached only when something is broken.
EXIT_TIMEOUT = 30.0
#: A child that holds on to its lifeline, says so, then waits forever.
HOLDER = (
    "import sys, threading; from taskq_core.worker.lifeline import hold;"
    " hold(int(sys.argv[1]), int(sys.argv[2])); print('holding', flush=True);"
    " threading.Event().wait()"
)


def start_holder(lifeline_fd: int, worker_pid: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lifeline_fd), str(worker_pid)],
        pass_fds=(lifeline_fd,),
        stdout=subprocess.PIPE,
        text=True,
    )


def test_a_child_exits_when_its_lifeline_reaches_end_of_file():
    # Given a child holding the read end of a lifeline whose write end only this process has
    read, write = os.pipe()
    child = start_holder(read, os.getpid())
    os.close(read)
    assert child.stdout is not None
    assert child.stdout.readline() == "holding\n"

    # When the write end closes, as it does when the worker process dies
    os.close(write)

    # Then the child exits by itself
    assert child.wait(EXIT_TIMEOUT) == EXIT_ORPHANED
    child.stdout.close()


def test_a_child_whose_worker_is_already_gone_exits_at_once():
    # Given a lifeline that is still open, but a child whose parent is not the expected worker
    # (the worker died before the child armed its parent-death signal, and it was reparented)
    read, write = os.pipe()
    not_the_parent = os.getpid() + 1 if os.getpid() != 1 else 2

    # When the child starts holding on
    child = start_holder(read, not_the_parent)
    os.close(read)

    # Then it exits before running anything
    assert child.stdout is not None
    assert child.stdout.read() == ""
    assert child.wait(EXIT_TIMEOUT) == EXIT_ORPHANED
    os.close(write)
    child.stdout.close()


def test_a_child_still_running_when_its_lifeline_closes_dies():
    # Given a child started through a lifeline, holding on to it
    lifeline = Lifeline()
    child = lifeline.start([sys.executable, "-c", HOLDER], ())

    # When the lifeline closes (the pool closes it once it stopped every child)
    lifeline.close()

    # Then the child dies: killed by its parent-death signal or exiting on end of file
    assert child.wait(EXIT_TIMEOUT) in (EXIT_ORPHANED, -signal.SIGKILL)

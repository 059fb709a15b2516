"""A processes-pool child lives only as long as its worker process.

When the worker is SIGKILLed (or the OOM killer takes it), nothing in the worker runs to stop its
children. An orphaned child would finish its task while the task's lease runs out and it is
redelivered elsewhere (the task runs twice), and a runaway child would run forever. Two
mechanisms, either one enough, end the child instead:

* **Parent-death signal (Linux).** The child asks the kernel, through ``prctl(PR_SET_PDEATHSIG)``,
  for a SIGKILL when its parent goes. The kernel means the parent *thread* (the one that forked),
  so children are started from one long-lived thread of the worker (:class:`Lifeline`) that ends
  only after every child was stopped, never from a pool thread. The signal is armed in the child
  after the fork, so a parent that died before that would go unnoticed: the child then checks
  that its parent is still the worker process, and exits if not.
* **Lifeline pipe (everywhere).** The worker holds the write end of a pipe that only it has; each
  child gets the read end and a thread blocked reading it. The read returns (end of file) when
  the worker process is gone, and the child exits at once. This also covers systems without
  ``prctl`` and a parent that died before the child started its watch. (The watch needs the
  GIL to act, so a child stuck in a C call that holds it is ended by the signal alone.)

Either way the child ends with no clean-up (``os._exit`` or SIGKILL): its task must not complete,
because the worker cannot settle it and its lease brings it back to another worker.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from taskq_core.worker.failures import ChildLost

#: ``PR_SET_PDEATHSIG`` from ``<linux/prctl.h>``.
PR_SET_PDEATHSIG = 1
#: Exit status of a child that found its worker process gone.
EXIT_ORPHANED = 70


class Lifeline:
    """The worker's side: starts children so that they die with the worker process."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()  # both non-inheritable: no child gets the write end
        # One thread forks every child: a parent-death signal follows the forking thread, so
        # this thread outlives all children (see the module docstring).
        self._starter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="taskq-child-starter")
        self._lock = threading.Lock()
        self._closed = False

    def start(self, argv: list[str], pass_fds: tuple[int, ...]) -> subprocess.Popen[bytes]:
        """Start ``argv`` followed by the lifeline arguments :func:`hold` expects.

        ``pass_fds`` are the descriptors the child needs besides the lifeline.

        Raises:
            ChildLost: the pool closed; its task goes back through its lease.
        """
        with self._lock:
            if self._closed:
                raise ChildLost("the process pool is closed; no child can start")
            lifeline = [str(self._read), str(os.getpid())]
            return self._starter.submit(
                subprocess.Popen,
                [*argv, *lifeline],
                pass_fds=(*pass_fds, self._read),
                cwd=os.getcwd(),
            ).result()

    def close(self) -> None:
        """Stop the starter thread and close the pipe; call once every child was stopped.

        A child still running after this gets the parent-death signal when the starter thread
        ends and end of file on the lifeline: it dies.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._starter.shutdown(wait=True)
        for fd in (self._read, self._write):
            with contextlib.suppress(OSError):
                os.close(fd)


def lifeline_args(argv: list[str]) -> tuple[list[str], int, int]:
    """Split a child's ``argv`` into its own arguments, the lifeline fd and the worker's pid."""
    *own, fd, parent = argv
    return own, int(fd), int(parent)


def hold(lifeline_fd: int, parent_pid: int) -> None:
    """In a child: die with the worker process ``parent_pid`` (see the module docstring).

    Exits at once when the worker is already gone.
    """
    _arm_parent_death_signal()
    if os.getppid() != parent_pid:  # the worker died before the signal was armed
        os._exit(EXIT_ORPHANED)
    threading.Thread(target=_watch, args=(lifeline_fd,), name="taskq-lifeline", daemon=True).start()


def _arm_parent_death_signal() -> None:
    """Ask Linux for a SIGKILL when the parent goes; elsewhere the lifeline alone does it."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _watch(lifeline_fd: int) -> None:
    """Block until the lifeline reaches end of file (the worker is gone), then exit."""
    with contextlib.suppress(OSError):
        while os.read(lifeline_fd, 1):  # nobody writes: only end of file ends the read
            pass
    os._exit(EXIT_ORPHANED)

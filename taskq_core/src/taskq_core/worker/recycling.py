"""When the processes pool replaces a child: after N tasks, or once it holds too much memory.

A task that leaks (a growing cache, a C extension that never frees) makes its child grow task
after task. The pool replaces such a child between two tasks, never during one: the child
measures its own resident memory after each task and sends it with the result, and the pool
thread starts a fresh child before its next task when a limit is reached.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from taskq_core.errors import ConfigurationError

__all__ = ["Recycling", "resident_kib"]


@dataclass(frozen=True)
class Recycling:
    """The limits of one pool child; ``None`` is no limit.

    Attributes:
        max_tasks: Tasks a child runs before it is replaced.
        max_memory_kib: Resident memory in KiB past which a child is replaced after its task.
    """

    max_tasks: int | None = None
    max_memory_kib: int | None = None

    @classmethod
    def checked(cls, pool: str, max_tasks: int | None, max_memory_kib: int | None) -> Recycling:
        """Limits for a worker's ``pool``, refusing them for pools without children.

        Raises:
            ConfigurationError: a limit below 1, or one given to a pool other than processes.
        """
        for label, value in (
            ("max_tasks_per_child", max_tasks),
            ("max_memory_per_child", max_memory_kib),
        ):
            if value is None:
                continue
            if pool != "processes":
                raise ConfigurationError(f"{label} needs the processes pool, not {pool}")
            if value < 1:
                raise ConfigurationError(f"{label} must be >= 1, got {value}")
        return cls(max_tasks, max_memory_kib)

    @property
    def measures_memory(self) -> bool:
        """Whether children report their resident memory after each task."""
        return self.max_memory_kib is not None

    def reason(self, tasks_run: int, rss_kib: int | None) -> str | None:
        """Why a child that ran ``tasks_run`` tasks and holds ``rss_kib`` must go, or ``None``."""
        if self.max_tasks is not None and tasks_run >= self.max_tasks:
            return f"it ran {tasks_run} tasks (max_tasks_per_child)"
        limit = self.max_memory_kib
        if limit is not None and rss_kib is not None and rss_kib > limit:
            return f"it holds {rss_kib} KiB > {limit} KiB (max_memory_per_child)"
        return None


def resident_kib() -> int | None:
    """This process's resident memory in KiB.

    ``/proc/self/statm`` where there is one (the current size, so memory given back counts);
    elsewhere the peak from ``getrusage``, which only grows. ``None`` when neither exists.
    """
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # bytes on macOS, KiB elsewhere

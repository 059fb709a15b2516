"""The app of the start-up tests: one task, and a broker URL that ``--broker`` replaces."""

from __future__ import annotations

from taskq_core import Taskq

app = Taskq("redis://127.0.0.1:1/0")


@app.task(name="startup.add")
def add(a: int, b: int) -> int:
    """The sum, returned as the task's result."""
    return a + b

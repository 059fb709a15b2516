"""The built-in ``taskq_task_execute`` implementation: call the task's function."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taskq_core.context import run_in_context
from taskq_core.plugins import hookimpl

if TYPE_CHECKING:
    from taskq_core.schemas import Delivery
    from taskq_core.task import Task


@hookimpl(trylast=True)
def taskq_task_execute(delivery: Delivery, task: Task[..., Any]) -> object:
    """Run the function with the message's arguments (plugins wrap this with ``wrapper=True``).

    The task and its delivery are the running task meanwhile (``current_task``, ``bind=True``).
    """
    return run_in_context(delivery, task)

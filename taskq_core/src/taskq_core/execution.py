"""Executing a task: the ``taskq_task_execute`` hook and its built-in implementation.

:func:`execute` is the one way every pool calls a task's function (threads and solo on the pool
thread, ``async def`` tasks on the worker's loop, the processes pool in its child), so a plugin
wrapping ``taskq_task_execute`` wraps every call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taskq_core.context import run_in_context
from taskq_core.plugins import hookimpl, implementations, plugin_manager

if TYPE_CHECKING:
    from taskq_core.schemas import Delivery
    from taskq_core.task import Task

#: Name the built-in implementation is registered under (``plugins.py``).
BUILTIN_EXECUTE = "taskq.execution"


@hookimpl(trylast=True)
def taskq_task_execute(delivery: Delivery, task: Task[..., Any]) -> object:
    """Run the function with the message's arguments (plugins wrap this with ``wrapper=True``).

    The task and its delivery are the running task meanwhile (``current_task``, ``bind=True``).
    """
    return run_in_context(delivery, task)


def execute(delivery: Delivery, task: Task[..., Any]) -> Any:
    """Run ``taskq_task_execute`` for ``delivery``; a coroutine for an ``async def`` task.

    When only the built-in implementation exists (and tracing is off), the function is called
    directly: the same call without pluggy's dispatch, about a tenth of a no-op task's cost in
    the worker.
    """
    impls = implementations("taskq_task_execute")
    manager = plugin_manager()
    if len(impls) == 1 and impls[0].plugin_name == BUILTIN_EXECUTE and not manager.traced:
        return run_in_context(delivery, task)
    return manager.hook.taskq_task_execute(delivery=delivery, task=task)

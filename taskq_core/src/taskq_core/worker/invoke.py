"""Invoking a task in the worker's own process (``threads`` and ``solo`` pools).

The task runs through :func:`~taskq_core.execution.execute` (the ``taskq_task_execute`` hook),
as in the processes pool's children, so plugins can wrap every call. Time limits are
enforced by the :class:`~taskq_core.worker.limits.ThreadWatchdog`; ``async def`` tasks run on the
worker's :class:`~taskq_core.worker.aio.EventLoopThread`, where a hard limit cancels them.
"""

from __future__ import annotations

import inspect
import threading
from typing import TYPE_CHECKING, Any, Protocol

from taskq_core.execution import execute
from taskq_core.worker.aio import EventLoopThread
from taskq_core.worker.limits import ThreadWatchdog, raise_in_thread
from taskq_core.worker.revocation import Stoppers

if TYPE_CHECKING:
    from taskq_core.schemas import Delivery
    from taskq_core.task import Task


class Invoker(Protocol):
    """Runs one task call and returns its value, or raises what the task raised."""

    #: The running tasks, for ``revoke(terminate=True)``: a stopped one raises
    #: ``TaskTerminated`` out of ``__call__``.
    stoppers: Stoppers

    def __call__(self, delivery: Delivery, task: Task[..., Any]) -> Any:
        """Run ``task`` with the arguments of ``delivery``."""

    def close(self) -> None:
        """Release what the invoker started (threads, loops, processes)."""


class InProcessInvoker:
    """Runs tasks on the calling thread (coroutines on the shared loop)."""

    def __init__(self) -> None:
        self._watchdog = ThreadWatchdog()
        #: The worker's event loop, where ``async def`` tasks run.
        self.loop = EventLoopThread()
        self.stoppers = Stoppers()

    def __call__(self, delivery: Delivery, task: Task[..., Any]) -> Any:
        """Call the hook under the task's time limits, stoppable by a termination request."""
        options = task.options
        if task.is_async:
            # The hook returns the coroutine at once; the limit applies to running it.
            coroutine = execute(delivery, task)
            return self.loop.run(
                coroutine, time_limit=options.time_limit, stoppers=self.stoppers, id=delivery.id
            )
        stoppers, delivery_id = self.stoppers, delivery.id
        thread_id = threading.get_ident()
        try:
            stoppers.enter(delivery_id, thread_id)
            if options.soft_time_limit or options.time_limit:
                with self._watchdog.limit(options.soft_time_limit, options.time_limit):
                    result = execute(delivery, task)
            else:
                result = execute(delivery, task)
        finally:
            if stoppers.leave(delivery_id):
                # Stopped after its last bytecode: drop the exception if it has not landed yet
                # (as the watchdog does), so it never lands in the worker's own code.
                raise_in_thread(thread_id, None)
        if inspect.iscoroutine(result):  # a sync wrapper that returned a coroutine
            return self.loop.run(
                result, time_limit=options.time_limit, stoppers=self.stoppers, id=delivery.id
            )
        return result

    def close(self) -> None:
        """Stop the event loop thread, if one was started."""
        self.loop.close()

"""What a task's own body calls while it runs: its request, progress reports and retries."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import JsonValue

from taskq_core.capabilities import ResultStore
from taskq_core.context import Request, running
from taskq_core.errors import Retry
from taskq_core.progress import TaskState
from taskq_core.schemas import tuples_to_lists

if TYPE_CHECKING:
    from taskq_core.app import Taskq
    from taskq_core.task_options import ExecutionOptions


class WhileRunning:
    """The part of :class:`~taskq_core.task.Task` a running call uses (``bind=True`` tasks)."""

    app: Taskq
    name: str
    options: ExecutionOptions

    @property
    def request(self) -> Request:
        """The call this task is running in this context (``bind=True`` tasks read it).

        Raises:
            RuntimeError: the task is not running in this context.
        """
        now = running()
        if now is None or now[0] is not self:
            raise RuntimeError(f"{self.name}.request: the task is not running here")
        return Request.of(now[1])

    def set_progress(
        self, current: int | float, total: int | float | None = None, meta: JsonValue = None
    ) -> None:
        """Report progress of the running call: ``AsyncResult.progress`` shows it (STARTED).

        Raises:
            RuntimeError: the task is not running in this context.
        """
        request = self.request
        state = TaskState(
            id=request.id,
            status="STARTED",
            current=current,
            total=total,
            meta=tuples_to_lists(meta),
            updated_at=self.app.clock.now(),
        )
        broker = self.app.broker
        if isinstance(broker, ResultStore):
            broker.set_task_state(state, ttl=self.options.result_ttl or self.app.result_ttl)

    def retry(self, *, countdown: float | None = None, reason: str = "retry requested") -> None:
        """Ask for a retry of the running call (Celery's ``self.retry``): raises :class:`Retry`.

        ``countdown`` seconds before the next attempt; ``None`` uses the retry policy.
        """
        raise Retry(countdown, reason)

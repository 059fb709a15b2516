"""The running task's context: ``self.request`` of ``bind=True`` tasks and ``current_task``.

The worker sets a context variable around every task call (each pool thread, each process-pool
child, each ``async def`` task's own asyncio task), holding the task and its delivery; the
:class:`Request` is built from them only when a task asks. Workflow lineage travels in message
headers: ``taskq-parent`` (the task whose ack sent this one, or that called ``delay()`` while
running) and ``taskq-root`` (the first task of that lineage); ``taskq-eta`` holds the ETA of a
message sent with ``countdown``/``eta``.
"""

from __future__ import annotations

import contextvars
import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from taskq_core.schemas import Delivery
    from taskq_core.task import Task

#: Message headers of the lineage and the ETA.
PARENT_HEADER = "taskq-parent"
ROOT_HEADER = "taskq-root"
ETA_HEADER = "taskq-eta"

_running: contextvars.ContextVar[tuple[Task[..., Any], Delivery] | None] = contextvars.ContextVar(
    "taskq_running", default=None
)


@dataclass(frozen=True)
class Request:
    """What a running task knows about its own call (Celery's ``self.request``).

    Attributes:
        id: The message id (the ``AsyncResult`` id).
        task: The task name.
        args: Positional arguments of this call.
        kwargs: Keyword arguments of this call.
        queue: The queue it was reserved from.
        retries: Retries used before this run.
        delivery_count: How many times the message was handed out, this time included.
        parent_id: The task that sent it (previous workflow step, or a task that called
            ``delay()``); ``None`` for a call from outside any task.
        root_id: The first task of its lineage (its own id when it has no parent).
        eta: When it was scheduled to run (seconds since the epoch), if it had an ETA.
        worker_id: The worker running it.
    """

    id: str
    task: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    queue: str
    retries: int
    delivery_count: int
    parent_id: str | None
    root_id: str
    eta: float | None
    worker_id: str

    @classmethod
    def of(cls, delivery: Delivery) -> Request:
        """The request of ``delivery``."""
        message = delivery.message
        headers = message.headers
        eta = headers.get(ETA_HEADER)
        return cls(
            id=message.id,
            task=message.task,
            args=message.args,
            kwargs=dict(message.kwargs),
            queue=message.queue,
            retries=delivery.retries,
            delivery_count=delivery.token,
            parent_id=headers.get(PARENT_HEADER),
            root_id=headers.get(ROOT_HEADER) or message.id,
            eta=float(eta) if eta else None,
            worker_id=delivery.worker_id,
        )


def running() -> tuple[Task[..., Any], Delivery] | None:
    """The task running in this context and its delivery, or ``None``."""
    return _running.get()


def lineage() -> dict[str, str]:
    """Headers naming the running task as the parent of a message sent now (``{}`` outside)."""
    now = _running.get()
    if now is None:
        return {}
    message = now[1].message
    return {PARENT_HEADER: message.id, ROOT_HEADER: message.headers.get(ROOT_HEADER, message.id)}


def run_in_context(delivery: Delivery, task: Task[..., Any]) -> Any:
    """Call ``task`` with the arguments of ``delivery``, with both set as the running task."""
    message = delivery.message
    token = _running.set((task, delivery))
    try:
        result = task.run(*message.args, **message.kwargs)
    finally:
        _running.reset(token)
    if inspect.iscoroutine(result):
        return _awaited_in_context(task, delivery, result)
    return result


async def _awaited_in_context(
    task: Task[..., Any], delivery: Delivery, coroutine: Coroutine[Any, Any, Any]
) -> Any:
    """Await an ``async def`` task with itself as the running task (its own asyncio context)."""
    _running.set((task, delivery))
    return await coroutine


class CurrentTask:
    """``current_task``: the task running in this context, as ``bind=True`` would pass it.

    ``current_task.request.id``, ``current_task.name``, ``current_task.set_progress(...)``;
    false outside a task (``if current_task: ...``), where reading an attribute raises
    ``RuntimeError``.
    """

    def __bool__(self) -> bool:
        return _running.get() is not None

    def __repr__(self) -> str:
        now = _running.get()
        return "<current_task: none>" if now is None else f"<current_task {now[0].name}>"

    def __getattr__(self, name: str) -> Any:
        now = _running.get()
        if now is None:
            raise RuntimeError(f"current_task.{name}: no task is running in this context")
        return getattr(now[0], name)


current_task = CurrentTask()

"""A task's options beyond retries, and the type of ``@app.task(...)`` with options."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, overload

from typing_extensions import TypeVar

if TYPE_CHECKING:
    from taskq_core.ratelimit import RateLimit
    from taskq_core.task import Task

P = ParamSpec("P")
R = TypeVar("R")


class TaskDecorator(Protocol):
    """What ``@app.task(...)`` with options returns: the decorator, typed like ``@app.task``."""

    @overload
    def __call__(
        self, fn: Callable[P, Coroutine[Any, Any, R]]
    ) -> Task[P, Coroutine[Any, Any, R], R]: ...

    @overload
    def __call__(self, fn: Callable[P, R]) -> Task[P, R, R]: ...


@dataclass(frozen=True)
class ExecutionOptions:
    """How a worker runs a task, beyond retries.

    Attributes:
        time_limit: Hard limit in seconds; the task is stopped and goes to retry/DEAD with reason
            "time limit" (processes: the child is killed; threads: an exception is raised in the
            task's thread, which cannot interrupt a blocking C call; async: cancelled).
        soft_time_limit: Seconds after which ``SoftTimeLimitExceeded`` is raised inside the task.
        rate_limit: Starts allowed across all workers together, e.g. ``RateLimit(100, 1.0)``.
        ignore_result: Do not store the return value.
        result_ttl: Seconds the result is kept; ``None`` uses the app's default.
        expires: Seconds from each send after which a call not yet started is not run and
            ends EXPIRED; ``None``: calls never expire unless ``apply_async(expires=)`` says so.
        bind: Pass the task itself as the function's first argument (``self.request``).
        track_started: Report STARTED (``AsyncResult.status``) when a worker starts the task;
            one more broker write per task, so off by default (see docs/workflows.md).
    """

    time_limit: float | None = None
    soft_time_limit: float | None = None
    rate_limit: RateLimit | None = None
    ignore_result: bool = False
    result_ttl: float | None = None
    expires: float | None = None
    bind: bool = False
    track_started: bool = False

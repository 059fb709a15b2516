"""Registering tasks: ``@app.task`` and ``@app.periodic``, task names and routes to queues.

:class:`TaskRegistry` is the part of :class:`~taskq_core.app.Taskq` that turns functions into
tasks: it checks a task's options once, at decoration, and knows which queue each task sends to.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import sys
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, Unpack, cast, overload

from taskq_core.control import expires_at
from taskq_core.errors import ConfigurationError
from taskq_core.periodic.schedule import Periodic, PeriodicOptions, schedule_decorator
from taskq_core.ratelimit import RateLimit, parse_rate_limit
from taskq_core.retry import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_RETRY_BACKOFF_MAX,
    DEFAULT_RETRY_DELAY,
    RetryPolicy,
)
from taskq_core.task import Task
from taskq_core.task_options import ExecutionOptions, TaskDecorator
from taskq_core.unique import UniqueUntil, check_unique_options

if TYPE_CHECKING:
    from taskq_core.app import Taskq

P = ParamSpec("P")
R = TypeVar("R")

#: Lost leases (worker crashes, timeouts) a message survives before it goes to DEAD.
DEFAULT_MAX_DELIVERIES = 5


class TaskRegistry:
    """The tasks of an app by name, and the queues they send to."""

    tasks: dict[str, Task[..., Any]]
    default_queue: str
    routes: Mapping[str, str]
    ignore_results: bool
    #: Periodic schedules by key (``@app.periodic``); every worker's scheduler runs them.
    periodic_schedules: dict[str, Periodic]
    _explicit_queue: set[str]

    @overload
    def task(
        self, fn: Callable[P, Coroutine[Any, Any, R]]
    ) -> Task[P, Coroutine[Any, Any, R], R]: ...

    @overload
    def task(self, fn: Callable[P, R]) -> Task[P, R, R]: ...

    @overload
    def task(
        self,
        *,
        name: str | None = None,
        queue: str | None = None,
        priority: int = 0,
        max_retries: int = DEFAULT_MAX_RETRIES,
        default_retry_delay: float = DEFAULT_RETRY_DELAY,
        retry_backoff: bool = True,
        retry_backoff_max: float = DEFAULT_RETRY_BACKOFF_MAX,
        retry_jitter: bool = True,
        retry_for: Sequence[type[BaseException]] = (Exception,),
        no_retry_for: Sequence[type[BaseException]] = (),
        max_deliveries: int = DEFAULT_MAX_DELIVERIES,
        time_limit: float | None = None,
        soft_time_limit: float | None = None,
        rate_limit: str | RateLimit | None = None,
        ignore_result: bool | None = None,
        result_ttl: float | None = None,
        unique_for: float | None = None,
        unique_until: UniqueUntil = "done",
        expires: float | dt.timedelta | None = None,
        bind: bool = False,
        track_started: bool = False,
    ) -> TaskDecorator: ...

    def task(
        self,
        fn: Callable[..., Any] | None = None,
        *,
        name: str | None = None,
        queue: str | None = None,
        priority: int = 0,
        max_retries: int = DEFAULT_MAX_RETRIES,
        default_retry_delay: float = DEFAULT_RETRY_DELAY,
        retry_backoff: bool = True,
        retry_backoff_max: float = DEFAULT_RETRY_BACKOFF_MAX,
        retry_jitter: bool = True,
        retry_for: Sequence[type[BaseException]] = (Exception,),
        no_retry_for: Sequence[type[BaseException]] = (),
        max_deliveries: int = DEFAULT_MAX_DELIVERIES,
        time_limit: float | None = None,
        soft_time_limit: float | None = None,
        rate_limit: str | RateLimit | None = None,
        ignore_result: bool | None = None,
        result_ttl: float | None = None,
        unique_for: float | None = None,
        unique_until: UniqueUntil = "done",
        expires: float | dt.timedelta | None = None,
        bind: bool = False,
        track_started: bool = False,
    ) -> Any:
        """Register a function as a task: ``@app.task`` or ``@app.task(max_retries=5, ...)``.

        Args:
            fn: The function (when used without parentheses).
            name: Name on the wire; defaults to ``module.qualname``. Producer and worker must agree.
            queue: Queue for its messages; defaults to the app's routes, then ``default_queue``.
            priority: Default priority 0-9, larger runs first.
            max_retries: Retries after exceptions before the message goes to DEAD.
            default_retry_delay: Base backoff delay in seconds.
            retry_backoff: Exponential backoff (doubling) on each retry.
            retry_backoff_max: Ceiling of one backoff delay in seconds.
            retry_jitter: Full jitter: a uniform draw between 0 and the backoff delay.
            retry_for: Exception types that are retried.
            no_retry_for: Exception types that go straight to DEAD.
            max_deliveries: Lost leases (the worker died mid-task) before the message goes to DEAD.
            time_limit: Hard limit in seconds (``ExecutionOptions`` says what each pool can stop).
            soft_time_limit: Seconds before ``SoftTimeLimitExceeded`` is raised inside the task.
            rate_limit: ``"100/s"``, ``"20/m"``, ``"5/h"``: starts across all workers together.
            ignore_result: Store no result (default: the app's ``ignore_results``).
            result_ttl: Seconds the result is kept (default: the app's ``result_ttl``).
            unique_for: Make each call unique for this many seconds: while a message with the
                same task and arguments holds the key, a send returns its handle and writes
                nothing (docs/control.md).
            unique_until: ``"done"``: the key is also released when the task succeeds or
                dies; ``"ttl"``: only when ``unique_for`` runs out.
            expires: Seconds (or a ``timedelta``) from each send after which a call not yet
                started is not run and ends EXPIRED (docs/control.md).
            bind: Pass the task as the function's first argument (``self.request.id`` ...).
            track_started: Report STARTED when a worker starts it (one more broker write).
        """
        check_unique_options(unique_for, unique_until)
        policy = RetryPolicy(
            max_retries=max_retries,
            default_retry_delay=default_retry_delay,
            retry_backoff=retry_backoff,
            retry_backoff_max=retry_backoff_max,
            retry_jitter=retry_jitter,
            retry_for=tuple(retry_for),
            no_retry_for=tuple(no_retry_for),
        )
        if not 0 <= priority <= 9:
            raise ConfigurationError(f"priority must be 0-9, got {priority}")
        if max_deliveries < 1:
            raise ConfigurationError("max_deliveries must be >= 1")
        for label, limit in (("time_limit", time_limit), ("soft_time_limit", soft_time_limit)):
            if limit is not None and limit <= 0:
                raise ConfigurationError(f"{label} must be > 0 seconds")
        options = ExecutionOptions(
            time_limit=time_limit,
            soft_time_limit=soft_time_limit,
            rate_limit=parse_rate_limit(rate_limit) if rate_limit is not None else None,
            ignore_result=self.ignore_results if ignore_result is None else ignore_result,
            result_ttl=result_ttl,
            expires=expires_at(expires, 0.0),
            bind=bind,
            track_started=track_started,
        )

        def register(function: Callable[..., Any]) -> Task[..., Any]:
            task_name = name or default_task_name(function)
            if task_name in self.tasks and self.tasks[task_name].fn is not function:
                raise ConfigurationError(f"task name {task_name!r} is registered twice")
            task: Task[..., Any] = Task(
                cast("Taskq", self),
                function,
                name=task_name,
                queue=queue or self.default_queue,
                priority=priority,
                policy=policy,
                max_deliveries=max_deliveries,
                options=options,
                unique=(unique_for, unique_until),
            )
            if queue is not None:
                self._explicit_queue.add(task_name)
            self.tasks[task_name] = task
            return task

        return register(fn) if fn is not None else register

    def periodic(self, **options: Unpack[PeriodicOptions]) -> Callable[[Any], Task[..., Any]]:
        """Send a task on a schedule: ``@app.periodic(every=30)`` above ``@app.task`` (or alone).

        Above ``@app.task`` it schedules that task; on a plain function it registers the task
        too. Every worker runs the scheduler, and each tick is sent once however many run.
        Options (``cron``/``tz`` or ``every``, ``args``, ``kwargs``, ``queue``, ``priority``,
        ``name``, ``catch_up``): :class:`~taskq_core.periodic.PeriodicOptions`, docs/periodic.md.

        Raises:
            ConfigurationError: a bad cron expression, timezone or option (one line), or a
                second schedule with the same identity.
        """
        return schedule_decorator(cast("Taskq", self), options)

    def route(self, task: Task[..., Any]) -> str:
        """Queue a task's messages go to: its own ``queue=``, else the first matching route."""
        if task.name in self._explicit_queue:
            return task.queue
        for pattern, queue in self.routes.items():
            if fnmatch.fnmatchcase(task.name, pattern):
                return queue
        return task.queue

    def queue_names(self) -> list[str]:
        """Every queue this app's tasks and routes send to, default queue first."""
        names = [self.default_queue]
        for queue in [*self.routes.values(), *(self.route(t) for t in self.tasks.values())]:
            if queue not in names:
                names.append(queue)
        return names


def default_task_name(function: Callable[..., Any]) -> str:
    """``module.qualname``, with the real module name even when it runs as ``__main__``.

    A producer started as ``python tasks.py`` and a worker that imported ``tasks`` must agree on
    the name, so ``__main__`` is replaced by the name it would have when imported.
    """
    module = function.__module__
    if module == "__main__":
        main = sys.modules.get("__main__")
        spec = getattr(main, "__spec__", None)
        if spec is not None and spec.name:
            module = spec.name
        elif main is not None and getattr(main, "__file__", None):
            module = Path(str(main.__file__)).stem
    return f"{module}.{function.__qualname__}"

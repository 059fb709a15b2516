"""``--log-format json``: one JSON object per log line, tagged with the running task.

While a task runs, every log record emitted on its thread (or in its coroutine) carries the
task's id, name and queue: the :class:`TaskLogContext` plugin wraps ``taskq_task_execute`` and
sets a :mod:`contextvars` variable, which :class:`TaskContextFilter` copies onto each record.
A context variable is per thread and per asyncio task, so the ``threads`` pool's concurrent
tasks never see each other's ids.

The ``processes`` pool's children are fresh interpreters: the worker exports
:data:`LOG_FORMAT_ENV` and :data:`LOG_LEVEL_ENV`, and each child calls
:func:`configure_from_env` at start, so children log the same JSON lines to the same stderr.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import inspect
import json
import logging
import os
import sys
from collections.abc import Coroutine, Generator
from typing import TYPE_CHECKING, Any, TextIO

from taskq_core.plugins import hookimpl, plugin_manager

if TYPE_CHECKING:
    from taskq_core.schemas import Delivery
    from taskq_core.task import Task

#: Environment variables a worker exports for its children (and that the CLI reads).
LOG_FORMAT_ENV = "TASKQ_LOG_FORMAT"
LOG_LEVEL_ENV = "TASKQ_LOG_LEVEL"

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: (id, name, queue) of the task running in this context, if any.
current_task: contextvars.ContextVar[tuple[str, str, str] | None] = contextvars.ContextVar(
    "taskq_current_task", default=None
)

_PLUGIN_NAME = "taskq.log-context"
_HANDLER_NAME = "taskq"


class TaskContextFilter(logging.Filter):
    """Adds ``task_id``, ``task_name`` and ``queue`` to records emitted while a task runs."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Tag ``record``; never drops one."""
        running = current_task.get()
        if running is not None:
            record.task_id, record.task_name, record.queue = running
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, and the task when in one."""

    def format(self, record: logging.LogRecord) -> str:
        """Encode ``record`` on one line (newlines in messages are escaped by JSON)."""
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in ("task_id", "task_name", "queue"):
            value = getattr(record, field, None)
            if value is not None:
                line[field] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str)


class TaskLogContext:
    """The plugin that sets :data:`current_task` around every task run."""

    @hookimpl(wrapper=True)
    def taskq_task_execute(
        self, delivery: Delivery, task: Task[..., Any]
    ) -> Generator[None, object, object]:
        """Run the task with its id, name and queue in the logging context."""
        running = (delivery.id, delivery.message.task, delivery.queue)
        token = current_task.set(running)
        try:
            result = yield
        finally:
            current_task.reset(token)
        if inspect.iscoroutine(result):
            return _in_context(running, result)
        return result


async def _in_context(running: tuple[str, str, str], coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Await an ``async def`` task's coroutine with ``running`` as the logging context."""
    current_task.set(running)  # this coroutine runs in a context copied for its own asyncio task
    return await coroutine


def configure(
    log_format: str = "text", level: str | int = "INFO", *, stream: TextIO | None = None
) -> logging.Handler:
    """Log to ``stream`` (stderr) as ``text`` lines or ``json`` objects, tagged with the task.

    Adds one handler to the root logger (replacing one an earlier call added; handlers others
    installed stay) and returns it. For ``json``, registers the :class:`TaskLogContext` plugin;
    ``text`` leaves the worker's path to the task function without a wrapper.
    """
    handler = logging.StreamHandler(sys.stderr if stream is None else stream)
    handler.addFilter(TaskContextFilter())
    formatter = JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    if log_format == "json":
        manager = plugin_manager()
        if manager.get_plugin(_PLUGIN_NAME) is None:
            manager.register(TaskLogContext(), name=_PLUGIN_NAME)
    return handler


def unconfigure() -> None:
    """Undo :func:`configure`: remove its handler and the task context plugin."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    manager = plugin_manager()
    if manager.get_plugin(_PLUGIN_NAME) is not None:
        manager.unregister(name=_PLUGIN_NAME)


def export_to_children(log_format: str, level: str) -> None:
    """Make the ``processes`` pool's children log like this process (they read the environment)."""
    os.environ[LOG_FORMAT_ENV] = log_format
    os.environ[LOG_LEVEL_ENV] = level.upper()


def configure_from_env() -> None:
    """In a pool child: log as the parent asked through the environment; nothing if it did not."""
    log_format = os.environ.get(LOG_FORMAT_ENV, "").strip().lower()
    if log_format in LOG_FORMATS:
        configure(log_format, os.environ.get(LOG_LEVEL_ENV, "INFO").strip() or "INFO")

"""How a failure is described: one summary line, a reason with traceback, and remote failures.

Shared by the runner (threads, solo) and the process pool's children, so a failure reads the same
wherever the task ran.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from taskq_core.errors import TaskqError

if TYPE_CHECKING:
    from taskq_core.schemas import Delivery
    from taskq_core.task import Task

#: Longest traceback kept in a DEAD reason, in characters; the head line is always kept.
MAX_TRACEBACK_CHARS = 8000


def describe(exc: BaseException) -> str:
    """``Type: message`` on one line, the summary every reason starts with."""
    text = str(exc).strip().replace("\n", " ")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def format_traceback(exc: BaseException) -> str:
    """The (tail of the) traceback of ``exc``."""
    trace = "".join(traceback.format_exception(exc)).rstrip()
    if len(trace) > MAX_TRACEBACK_CHARS:
        trace = "...\n" + trace[-MAX_TRACEBACK_CHARS:]
    return trace


def failure_reason(exc: BaseException) -> str:
    """The summary line followed by the traceback: what DEAD keeps."""
    if isinstance(exc, RemoteFailure):
        return f"{exc.summary}\n{exc.traceback}" if exc.traceback else exc.summary
    return f"{describe(exc)}\n{format_traceback(exc)}"


@dataclass(frozen=True)
class UnsendableValue:
    """Stands in for a process-pool task's return value that is not JSON (``type_name`` says what).

    The child checks the value before sending it, so the parent stores the same FAILURE result the
    other pools store for a non-JSON value, instead of whatever pickling made of it.
    """

    type_name: str


class ChildLost(TaskqError):
    """The child process running a task died before answering; its lease brings the task back."""


@dataclass(frozen=True)
class RemoteFailure(Exception):
    """A task raised in a child process; the parent settles it from these plain fields.

    Attributes:
        error_type: Class name of the exception in the child.
        message: Its message.
        traceback: The child's traceback text.
        retryable: What the task's retry policy says about the exception.
        retry_delay: Set when the task raised ``Retry(delay=...)``.
        requested: True when the task raised ``Retry`` itself.
    """

    error_type: str
    message: str
    traceback: str
    retryable: bool
    retry_delay: float | None = None
    requested: bool = False

    @property
    def summary(self) -> str:
        """``Type: message`` of the remote exception."""
        return f"{self.error_type}: {self.message}" if self.message else self.error_type

    def __str__(self) -> str:
        return self.summary


def misfit_of(delivery: Delivery, task: Task[..., Any], exc: BaseException) -> str | None:
    """Why the message's arguments do not fit the task's signature, when that made it raise.

    Checked only after a ``TypeError``, so a task that runs costs nothing extra.
    """
    if isinstance(exc, RemoteFailure):
        if exc.error_type != "TypeError":
            return None
    elif not isinstance(exc, TypeError):
        return None
    message = delivery.message
    problem = task.call_check.problem(message.args, message.kwargs)
    if problem is None:
        return None
    return f"arguments do not fit {task.describe_signature()}: {problem}"

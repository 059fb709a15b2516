"""The result a settling call carries: the task's value, or the failure that ended it.

Results travel with the delivery's one settling call (ack or dead), so a stored result and the
message's end are one atomic step. A value that is not JSON cannot be stored: the task ran and is
acked, and its result is a FAILURE that says so.
"""

from __future__ import annotations

import logging
import reprlib
import time
from typing import TYPE_CHECKING

from pydantic import ValidationError

from taskq_core.capabilities import ResultStore
from taskq_core.progress import TaskState
from taskq_core.schemas import TaskResult, tuples_to_lists
from taskq_core.worker.failures import RemoteFailure, UnsendableValue, format_traceback

if TYPE_CHECKING:
    from taskq_core.broker import BaseBroker
    from taskq_core.progress import RunState
    from taskq_core.schemas import Delivery

log = logging.getLogger("taskq.worker")


def _short_repr() -> reprlib.Repr:
    """The repr of result values in "succeeded" log lines: truncated, as Celery's is."""
    short = reprlib.Repr()
    short.maxstring = short.maxother = 60
    short.maxlist = short.maxtuple = short.maxset = 8
    short.maxdict = 6
    short.maxlevel = 3
    return short


#: Formats a task's value for the "succeeded" log line.
RESULT_REPR = _short_repr()

#: (exception type name, message, traceback) of a failure, local or from a child process.
ErrorParts = tuple[str, str, "str | None"]


def success_result(delivery: Delivery, value: object) -> TaskResult:
    """A SUCCESS result, or a FAILURE naming the problem when the value is not JSON."""
    try:
        if isinstance(value, UnsendableValue):
            raise TypeError(value.type_name)
        return TaskResult.model_validate(
            {
                "id": delivery.id,
                "status": "SUCCESS",
                "value": tuples_to_lists(value),
                "finished_at": time.time(),
            }
        )
    except (ValidationError, TypeError):
        kind = value.type_name if isinstance(value, UnsendableValue) else type(value).__name__
        message = (
            f"task {delivery.message.task!r} returned {kind}, which is not JSON; the task "
            "ran and was acked, but its result cannot be stored"
        )
        log.error("%s [%s]", message, delivery.id)
        return TaskResult(
            id=delivery.id,
            status="FAILURE",
            error_type="SerializationError",
            error_message=message,
            finished_at=time.time(),
        )


def failure_result(delivery: Delivery, error: ErrorParts) -> TaskResult:
    """The FAILURE result of a delivery that goes to DEAD."""
    error_type, message, trace = error
    return TaskResult(
        id=delivery.id,
        status="FAILURE",
        error_type=error_type,
        error_message=message,
        traceback=trace,
        finished_at=time.time(),
    )


def error_of(exc: BaseException) -> ErrorParts:
    """(type name, message, traceback) of a local or remote exception."""
    if isinstance(exc, RemoteFailure):
        return exc.error_type, exc.message, exc.traceback or None
    return type(exc).__name__, str(exc), format_traceback(exc)


def report_state(broker: BaseBroker, delivery: Delivery, status: RunState, ttl: float) -> None:
    """Report STARTED or RETRY for ``AsyncResult.status``; informational, never raises."""
    state = TaskState(id=delivery.id, status=status, updated_at=time.time())
    try:
        if isinstance(broker, ResultStore):
            broker.set_task_state(state, ttl=ttl)
    except Exception as exc:  # the task's outcome does not depend on this report
        log.warning("could not report %s for %s: %s", status, delivery.id, exc)

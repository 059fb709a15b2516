"""Run one delivery and turn its outcome into exactly one broker call: ack, retry or dead.

This is where the retry policy meets the broker. Every branch ends in one fenced broker call, so a
worker that lost its lease cannot overwrite what the new owner did; the ``False`` it gets back is
logged, never raised.
"""

from __future__ import annotations

import logging
import time
import traceback
from typing import TYPE_CHECKING, Any

from taskq_core.errors import Retry
from taskq_core.plugins import notify, plugin_manager

if TYPE_CHECKING:
    from collections.abc import Callable

    from taskq_core.app import Taskq
    from taskq_core.broker import BaseBroker
    from taskq_core.schemas import Delivery
    from taskq_core.task import Task

log = logging.getLogger("taskq.worker")

#: Longest traceback kept in a DEAD reason, in characters; the head line is always kept.
MAX_TRACEBACK_CHARS = 8000


def describe(exc: BaseException) -> str:
    """``Type: message`` on one line, the summary every reason starts with."""
    text = str(exc).strip().replace("\n", " ")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def failure_reason(exc: BaseException) -> str:
    """The summary line followed by the (tail of the) traceback."""
    trace = "".join(traceback.format_exception(exc)).rstrip()
    if len(trace) > MAX_TRACEBACK_CHARS:
        trace = "...\n" + trace[-MAX_TRACEBACK_CHARS:]
    return f"{describe(exc)}\n{trace}"


class DeliveryRunner:
    """Executes deliveries for one worker; stateless apart from its collaborators."""

    def __init__(
        self,
        app: Taskq,
        broker: BaseBroker,
        *,
        settling: Callable[[Delivery], None] | None = None,
    ) -> None:
        self.app = app
        self.broker = broker
        #: Told right before the settling broker call, so the worker's heartbeat can tell a
        #: delivery being acked from one whose lease was lost.
        self._settling = settling or _nothing

    def run(self, delivery: Delivery) -> str:
        """Execute ``delivery`` and settle it; returns the outcome (``acked``, ``retried``...)."""
        message = delivery.message
        task = self.app.tasks.get(message.task)
        if task is None:
            known = ", ".join(sorted(self.app.tasks)) or "none"
            return self._bury(
                delivery, f"unknown task {message.task!r}: no such task registered (known: {known})"
            )
        notify("taskq_task_started", delivery=delivery)
        started = time.perf_counter()
        try:
            result = plugin_manager().hook.taskq_task_execute(delivery=delivery, task=task)
        except Retry as request:
            return self._retry_or_bury(delivery, task, request, request.delay)
        except BaseException as exc:
            # SystemExit from a task (sys.exit in library code) is the task's failure: let it
            # escape and it kills the pool thread, leaving the delivery held and renewed forever.
            return self._retry_or_bury(delivery, task, exc, None)
        runtime = time.perf_counter() - started
        self._settling(delivery)
        if not self.broker.ack(delivery):
            log.warning("lease of %s was lost before its ack; the result is discarded", message.id)
            return "lost"
        notify("taskq_task_succeeded", delivery=delivery, result=result, runtime=runtime)
        return "acked"

    def _retry_or_bury(
        self,
        delivery: Delivery,
        task: Task[..., Any],
        exc: BaseException,
        requested_delay: float | None,
    ) -> str:
        policy = task.policy
        limit = delivery.message.max_retries
        max_retries = policy.max_retries if limit is None else limit
        explicit = isinstance(exc, Retry)
        if not explicit and not policy.retries_exception(exc):
            return self._bury(delivery, failure_reason(exc))
        if delivery.retries >= max_retries:
            reason = failure_reason(exc)
            return self._bury(delivery, f"retries exhausted ({max_retries}): {reason}")
        delay = policy.delay(delivery.retries) if requested_delay is None else requested_delay
        error = describe(exc)
        self._settling(delivery)
        if not self.broker.retry(delivery, delay=delay, error=error):
            log.warning("lease of %s was lost before its retry", delivery.id)
            return "lost"
        log.info(
            "task %s[%s] failed (%s); retry %d/%d in %.2fs",
            task.name,
            delivery.id,
            error,
            delivery.retries + 1,
            max_retries,
            delay,
        )
        notify("taskq_task_retried", delivery=delivery, error=error, delay=delay)
        return "retried"

    def _bury(self, delivery: Delivery, reason: str) -> str:
        self._settling(delivery)
        if not self.broker.dead(delivery, reason=reason):
            log.warning("lease of %s was lost before it could go to DEAD", delivery.id)
            return "lost"
        log.error(
            "task %s[%s] is dead: %s", delivery.message.task, delivery.id, reason.split("\n")[0]
        )
        notify("taskq_task_dead", message=delivery.message, reason=reason)
        return "dead"


def _nothing(delivery: Delivery) -> None:
    """The default ``settling`` callback."""

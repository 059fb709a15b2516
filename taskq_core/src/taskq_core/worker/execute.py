"""Run one delivery and turn its outcome into exactly one broker call: ack, retry or dead.

This is where the retry policy meets the broker. Every branch ends in one fenced broker call, so a
worker that lost its lease cannot overwrite what the new owner did; the ``False`` it gets back is
logged, never raised. Results (success values and failures) travel with that same call.
"""

from __future__ import annotations

import logging
import reprlib
import time
from typing import TYPE_CHECKING, Any, TypeAlias

from pydantic import ValidationError

from taskq_core.canvas.nodes import flow_of, on_failure, on_success
from taskq_core.capabilities import RateLimiter, ResultStore, Workflows
from taskq_core.errors import Retry, TaskTerminated
from taskq_core.plugins import implementations, notify
from taskq_core.progress import RunState, TaskState
from taskq_core.schemas import TaskResult, tuples_to_lists
from taskq_core.worker.failures import (
    ChildLost,
    RemoteFailure,
    UnsendableValue,
    describe,
    failure_reason,
    format_traceback,
)
from taskq_core.worker.invoke import InProcessInvoker
from taskq_core.worker.settler import Settler, Succeeded

if TYPE_CHECKING:
    from collections.abc import Callable

    from taskq_core.app import Taskq
    from taskq_core.broker import BaseBroker
    from taskq_core.schemas import Delivery, EndStatus
    from taskq_core.task import Task
    from taskq_core.worker.invoke import Invoker

    #: How a settling broker call is run for a delivery: ``patience(delivery, call)``.
    Patience: TypeAlias = Callable[[Delivery, Callable[[], bool]], bool]

__all__ = ["PENDING", "DeliveryRunner"]

#: Outcome of a success handed to the settler: acked later, reported by the settler.
PENDING = "pending"

log = logging.getLogger("taskq.worker")


def _short_repr() -> reprlib.Repr:
    """The repr of result values in "succeeded" log lines: truncated, as Celery's is."""
    short = reprlib.Repr()
    short.maxstring = short.maxother = 60
    short.maxlist = short.maxtuple = short.maxset = 8
    short.maxdict = 6
    short.maxlevel = 3
    return short


_RESULT_REPR = _short_repr()

#: Seconds added to a rate limit's period when grants are taken. A grant is timed on the
#: broker, but its task starts a few milliseconds later, and not equally late every time
#: (thread scheduling in a busy worker: up to 25 ms was seen with 4 processes x 4 threads).
#: Without a margin, two bursts of grants exactly one period apart start their tasks less than
#: a period apart, and one period of task starts holds more than the limit. The price is a rate
#: slightly under the limit: "20/s" allows 20 starts per 1.05 s.
RATE_LIMIT_MARGIN = 0.05
#: The feature named when a workflow step reaches a backend without workflows.
WORKFLOW_STEP = "a workflow step (chain, group, chord or link)"


class DeliveryRunner:
    """Executes deliveries for one worker; stateless apart from its collaborators."""

    def __init__(
        self,
        app: Taskq,
        broker: BaseBroker,
        *,
        settling: Callable[[Delivery], None] | None = None,
        invoker: Invoker | None = None,
        settler: Settler | None = None,
        patience: Patience | None = None,
    ) -> None:
        self.app = app
        self.broker = broker
        #: Told right before the settling broker call, so the worker's heartbeat can tell a
        #: delivery being acked from one whose lease was lost.
        self._settling = settling or _nothing
        self.invoker: Invoker = invoker or InProcessInvoker()
        #: Coalesces the acks of succeeded deliveries (the worker's); ``None`` acks each one
        #: here, synchronously.
        self._settler = settler
        #: Runs a settling broker call (retry, dead, a lone ack), trying again while the
        #: broker is unreachable and the delivery's lease lasts; by default it runs it once.
        self._patiently: Patience = patience or _once

    def run(self, delivery: Delivery) -> str:
        """Execute ``delivery`` and settle it; returns the outcome (``acked``, ``retried``...).

        With a ``settler``, a success is acked in a batch with others. When no plugin listens
        to ``taskq_task_succeeded``, it is handed over without waiting and the outcome is
        :data:`PENDING` (the settler reports the real one); otherwise this thread waits for
        the answer and fires the hook itself, as task hooks run on the task's thread.
        """
        message = delivery.message
        task = self.app.tasks.get(message.task)
        if task is None:
            known = ", ".join(sorted(self.app.tasks)) or "none"
            reason = f"unknown task {message.task!r}: no such task registered (known: {known})"
            return self._bury(delivery, reason, None, ("UnknownTask", reason, None))
        if message.expires is not None and message.expires <= self.app.clock.now():
            # Reserved in time but not started in time (it waited in the worker's prefetch).
            return self._end(delivery, task, "EXPIRED")
        if task.options.rate_limit is not None and not self._admitted(delivery, task):
            return "postponed"
        # One check per task: with logging at WARNING (the bench, most production) both lines
        # below cost this call and nothing else.
        logging_info = log.isEnabledFor(logging.INFO)
        if logging_info:
            log.debug("Task %s[%s] received", message.task, message.id)
        if implementations("taskq_task_started"):
            notify("taskq_task_started", delivery=delivery)
        if task.options.track_started:
            self._report(delivery, task, "STARTED")
        started = time.perf_counter()
        try:
            value = self.invoker(delivery, task)
        except ChildLost as lost:
            return self._abandon(delivery, lost)
        except TaskTerminated:
            return self._end(delivery, task, "REVOKED")
        except Retry as request:
            return self._retry_or_bury(delivery, task, request, request.delay)
        except RemoteFailure as remote:
            delay = remote.retry_delay if remote.requested else None
            return self._retry_or_bury(delivery, task, remote, delay)
        except BaseException as exc:
            # SystemExit from a task (sys.exit in library code) is the task's failure: let it
            # escape and it kills the pool thread, leaving the delivery held and renewed forever.
            return self._retry_or_bury(delivery, task, exc, None)
        runtime = time.perf_counter() - started
        if logging_info:
            log.info(
                "Task %s[%s] succeeded in %.3fs: %s",
                message.task,
                message.id,
                runtime,
                _RESULT_REPR.repr(value),
            )
        result = None if task.options.ignore_result else self._success(delivery, value)
        self._settling(delivery)
        listening = bool(implementations("taskq_task_succeeded"))
        flow = flow_of(message) if message.headers else None  # plain tasks: one truth test
        then = None
        if flow is not None:
            if result is not None and result.status == "FAILURE":
                return self._unsendable(delivery, task, flow, result)
            then = on_success(flow, delivery, tuples_to_lists(value), self.app.clock.now())
        if self._settler is None:
            ttl = self._ttl(task)
            if then is not None:
                follow_up = then
                acked = self._patiently(
                    delivery,
                    lambda: Workflows.require(self.broker, WORKFLOW_STEP).ack_and_continue(
                        delivery, follow_up, result=result, result_ttl=ttl
                    ),
                )
            else:
                acked = self._patiently(
                    delivery, lambda: self.broker.ack(delivery, result=result, result_ttl=ttl)
                )
        else:
            done = Succeeded(delivery, result, self._ttl(task), value, runtime, then)
            if not listening:
                self._settler.submit(done)
                return PENDING
            acked = self._settler.ack(done)
        if not acked:
            log.warning("lease of %s was lost before its ack; the result is discarded", message.id)
            return "lost"
        if listening:
            notify("taskq_task_succeeded", delivery=delivery, result=value, runtime=runtime)
        return "acked"

    def _unsendable(
        self,
        delivery: Delivery,
        task: Task[..., Any],
        flow: dict[str, Any],
        result: TaskResult,
    ) -> str:
        """Bury a workflow step whose value is not JSON: the workflow fails here.

        Nothing can carry such a value on, so the step goes to DEAD and its error callbacks run.
        """
        reason = result.error_message or "result is not JSON"
        then = on_failure(flow, delivery, reason, self.app.clock.now())
        ttl = self._ttl(task)
        if not self._patiently(
            delivery,
            lambda: Workflows.require(self.broker, WORKFLOW_STEP).dead_and_continue(
                delivery, then, reason=reason, result=result, result_ttl=ttl
            ),
        ):
            log.warning("lease of %s was lost before it could go to DEAD", delivery.id)
            return "lost"
        notify("taskq_task_dead", message=delivery.message, reason=reason)
        return "dead"

    def _report(self, delivery: Delivery, task: Task[..., Any], status: RunState) -> None:
        """Report STARTED or RETRY for ``AsyncResult.status``; informational, never raises."""
        state = TaskState(id=delivery.id, status=status, updated_at=time.time())
        try:
            if isinstance(self.broker, ResultStore):
                self.broker.set_task_state(state, ttl=self._ttl(task))
        except Exception as exc:  # the task's outcome does not depend on this report
            log.warning("could not report %s for %s: %s", status, delivery.id, exc)

    def _admitted(self, delivery: Delivery, task: Task[..., Any]) -> bool:
        """Take a rate-limit grant, or postpone the message until one could exist."""
        limit = task.options.rate_limit
        assert limit is not None
        limiter = RateLimiter.require(self.broker, f"rate_limit= of task {task.name!r}")
        wait = limiter.acquire_rate_limit(
            f"task:{task.name}", limit=limit.limit, period=limit.period + RATE_LIMIT_MARGIN
        )
        if wait <= 0:
            return True
        self._settling(delivery)
        if not self.broker.postpone(delivery, delay=wait):
            log.warning("lease of %s was lost before it could be postponed", delivery.id)
        return False

    def _end(self, delivery: Delivery, task: Task[..., Any], status: EndStatus) -> str:
        """End the delivery unrun or stopped: revoked, or expired before it started."""
        self._settling(delivery)
        ttl = self._ttl(task)
        if not self._patiently(
            delivery, lambda: self.broker.end(delivery, status=status, result_ttl=ttl)
        ):
            log.warning("lease of %s was lost before it could end %s", delivery.id, status)
            return "lost"
        log.info("Task %s[%s] %s", task.name, delivery.id, status.lower())
        return status.lower()

    def _abandon(self, delivery: Delivery, lost: ChildLost) -> str:
        """The process running the task died: expire the lease so the reaper takes it now."""
        log.error("%s; its lease is expired for redelivery", lost)
        self._settling(delivery)
        self.broker.extend_lease([delivery], lease=0.0)
        return "lost"

    def _retry_or_bury(
        self,
        delivery: Delivery,
        task: Task[..., Any],
        exc: BaseException,
        requested_delay: float | None,
    ) -> str:
        misfit = _misfit(delivery, task, exc)
        if misfit is not None:  # retrying cannot help: the call itself is wrong
            return self._bury(delivery, f"{misfit}\n{failure_reason(exc)}", task, _error_of(exc))
        policy = task.policy
        limit = delivery.message.max_retries
        max_retries = policy.max_retries if limit is None else limit
        if isinstance(exc, RemoteFailure):
            explicit, retryable = exc.requested, exc.retryable
        else:
            explicit, retryable = isinstance(exc, Retry), policy.retries_exception(exc)
        if not explicit and not retryable:
            return self._bury(delivery, failure_reason(exc), task, _error_of(exc))
        if delivery.retries >= max_retries:
            reason = f"retries exhausted ({max_retries}): {failure_reason(exc)}"
            return self._bury(delivery, reason, task, _error_of(exc))
        delay = policy.delay(delivery.retries) if requested_delay is None else requested_delay
        error = describe(exc) if not isinstance(exc, RemoteFailure) else exc.summary
        self._settling(delivery)
        if not self._patiently(
            delivery, lambda: self.broker.retry(delivery, delay=delay, error=error)
        ):
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
        if not task.options.ignore_result:
            self._report(delivery, task, "RETRY")
        notify("taskq_task_retried", delivery=delivery, error=error, delay=delay)
        return "retried"

    def _bury(
        self,
        delivery: Delivery,
        reason: str,
        task: Task[..., Any] | None,
        error: tuple[str, str, str | None],
    ) -> str:
        result = None
        if task is None or not task.options.ignore_result:
            error_type, message, trace = error
            result = TaskResult(
                id=delivery.id,
                status="FAILURE",
                error_type=error_type,
                error_message=message,
                traceback=trace,
                finished_at=time.time(),
            )
        self._settling(delivery)
        ttl = self._ttl(task)
        flow = flow_of(delivery.message)
        if flow is not None:
            then = on_failure(flow, delivery, reason.split("\n")[0], self.app.clock.now())

            def bury() -> bool:
                workflows = Workflows.require(self.broker, WORKFLOW_STEP)
                return workflows.dead_and_continue(
                    delivery, then, reason=reason, result=result, result_ttl=ttl
                )
        else:

            def bury() -> bool:
                return self.broker.dead(delivery, reason=reason, result=result, result_ttl=ttl)

        if not self._patiently(delivery, bury):
            log.warning("lease of %s was lost before it could go to DEAD", delivery.id)
            return "lost"
        log.error(
            "task %s[%s] is dead: %s", delivery.message.task, delivery.id, reason.split("\n")[0]
        )
        notify("taskq_task_dead", message=delivery.message, reason=reason)
        return "dead"

    def _success(self, delivery: Delivery, value: object) -> TaskResult:
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

    def _ttl(self, task: Task[..., Any] | None) -> float:
        if task is not None and task.options.result_ttl is not None:
            return task.options.result_ttl
        return self.app.result_ttl


def _error_of(exc: BaseException) -> tuple[str, str, str | None]:
    """(type name, message, traceback) of a local or remote exception."""
    if isinstance(exc, RemoteFailure):
        return exc.error_type, exc.message, exc.traceback or None
    return type(exc).__name__, str(exc), format_traceback(exc)


def _once(delivery: Delivery, call: Callable[[], bool]) -> bool:
    return call()


def _misfit(delivery: Delivery, task: Task[..., Any], exc: BaseException) -> str | None:
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


def _nothing(delivery: Delivery) -> None:
    """The default ``settling`` callback."""

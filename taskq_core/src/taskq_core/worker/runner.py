"""Run one delivery and settle it: exactly one fenced broker call (ack, retry, dead...).

This is where the retry policy meets the broker. Every branch ends in one fenced broker call, so a
worker that lost its lease cannot overwrite what the new owner did; the ``False`` it gets back is
logged, never raised. Results (success values and failures) travel with that same call.

Words: to *run* a delivery is this whole path; to *invoke* its task is to call it where the pool
runs tasks (``invoke.py``, ``processes.py``); to *execute* is the ``taskq_task_execute`` hook
that calls the function (``taskq_core/execution.py``); to *settle* is to end the delivery with
its one broker call, and the holdings record each settled delivery's :class:`Outcome`.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from taskq_core.canvas.nodes import flow_of, on_failure, on_success
from taskq_core.capabilities import RateLimiter, Workflows
from taskq_core.errors import Retry, TaskTerminated
from taskq_core.plugins import implementations, notify
from taskq_core.schemas import TaskResult, tuples_to_lists
from taskq_core.worker.acker import Acker, Succeeded
from taskq_core.worker.coroutines import CoroutineRuns
from taskq_core.worker.failures import (
    ChildLost,
    RemoteFailure,
    describe,
    failure_reason,
    misfit_of,
)
from taskq_core.worker.holding import Holdings
from taskq_core.worker.invoke import InProcessInvoker
from taskq_core.worker.link import BrokerLink, one_line, patiently
from taskq_core.worker.outcome import Outcome
from taskq_core.worker.results import (
    RESULT_REPR,
    ErrorParts,
    error_of,
    failure_result,
    report_state,
    success_result,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from taskq_core.app import Taskq
    from taskq_core.broker import BaseBroker
    from taskq_core.schemas import Delivery, EndStatus
    from taskq_core.task import Task
    from taskq_core.worker.invoke import Invoker
    from taskq_core.worker.prefetch import Prefetch

__all__ = ["DeliveryRunner", "Outcome"]

log = logging.getLogger("taskq.worker")


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
    """Runs and settles deliveries for one worker; stateless apart from its collaborators.

    Args:
        app: The app whose tasks run.
        broker: Where each delivery is settled.
        holdings: What the worker holds: told when a delivery's settling call goes out (its
            lease is no longer renewed) and each delivery's :class:`Outcome`. Default: holdings
            of its own, which hold nothing (``run_until_idle`` and tests).
        acker: Acks successes (coalesced in batches, in the worker). Default: acks each one
            at once on the calling thread.
        invoker: Calls the task where the pool runs it. Default: in this process.
        link: Told whether settling calls reach the broker.
        prefetch: Told how long each delivery took, for the adaptive prefetch.
        async_concurrency: Run ``async def`` tasks as coroutines, this many at once, without
            a pool thread each (``coroutines.py``); needs an in-process invoker. ``None``: a
            coroutine holds the pool thread that runs it until it ends.
    """

    def __init__(
        self,
        app: Taskq,
        broker: BaseBroker,
        *,
        holdings: Holdings | None = None,
        acker: Acker | None = None,
        invoker: Invoker | None = None,
        link: BrokerLink | None = None,
        prefetch: Prefetch | None = None,
        async_concurrency: int | None = None,
    ) -> None:
        self.app = app
        self.broker = broker
        self._holdings = holdings if holdings is not None else Holdings()
        self._link = link if link is not None else BrokerLink()
        self._acker = acker or Acker(broker, self._holdings, link=self._link, background=False)
        self.invoker: Invoker = invoker or InProcessInvoker()
        self._prefetch = prefetch
        #: Runs ``async def`` tasks as coroutines (``None``: on the invoker, one per thread).
        self.coroutines: CoroutineRuns | None = None
        if async_concurrency is not None and isinstance(self.invoker, InProcessInvoker):
            self.coroutines = CoroutineRuns(
                self, self._holdings, self.invoker.loop, self.invoker.stoppers, async_concurrency
            )

    def run_in_pool(self, delivery: Delivery) -> None:
        """Run and settle ``delivery`` on a pool thread: never raises.

        A broker that failed while settling makes the outcome :attr:`Outcome.ERROR`; the lease
        brings the message back.
        """
        started = time.perf_counter()
        try:
            task = self.app.tasks.get(delivery.message.task)
            if task is not None and task.is_async and self.coroutines is not None:
                self.coroutines.start(delivery, task)
                return
            self.run(delivery)
        except Exception as exc:
            log.error(
                "could not settle %s (%s); its lease will return it", delivery.id, one_line(exc)
            )
            log.debug("settle failure", exc_info=True)
            self._holdings.settled([(delivery, Outcome.ERROR)])
            return
        if self._prefetch is not None:
            self._prefetch.observe(time.perf_counter() - started)

    def run(self, delivery: Delivery) -> Outcome | None:
        """Run ``delivery`` and settle it; returns its outcome, also recorded in the holdings.

        A success is acked through the acker. When it acks in the background and no plugin
        listens to ``taskq_task_succeeded``, it is handed over without waiting and ``None`` is
        returned (the acker records the outcome); otherwise this thread waits for the answer
        and fires the hook itself, as task hooks run on the task's thread.

        Raises:
            Exception: the broker failed while settling (the lease brings the message back).
        """
        outcome = self._run(delivery)
        self.record(delivery, outcome)
        return outcome

    def record(self, delivery: Delivery, outcome: Outcome | None) -> None:
        """Record how ``delivery`` was settled (``None``: the acker records it)."""
        if outcome is not None:
            self._holdings.settled([(delivery, outcome)])

    def _patiently(self, delivery: Delivery, call: Callable[[], bool]) -> bool:
        """Run a settling call, trying again while the broker is out and the lease lasts."""
        until = self._holdings.lease_deadline
        return patiently(call, until=lambda: until(delivery), link=self._link, what=delivery.id)

    def _run(self, delivery: Delivery) -> Outcome | None:
        task, ended = self.admit(delivery)
        if task is None:
            return ended
        started = time.perf_counter()
        try:
            value = self.invoker(delivery, task)
        except BaseException as exc:
            # SystemExit from a task (sys.exit in library code) is the task's failure: let it
            # escape and it kills the pool thread, leaving the delivery held and renewed forever.
            return self.failed(delivery, task, exc)
        return self.succeeded(delivery, task, value, time.perf_counter() - started)

    def admit(self, delivery: Delivery) -> tuple[Task[..., Any] | None, Outcome | None]:
        """Decide whether ``delivery`` starts: ``(task, None)``, or ``(None, outcome)``.

        A delivery that must not start (unknown task, expired, no rate-limit grant) is settled
        here. One that starts is announced (``taskq_task_started``, ``STARTED``).
        """
        message = delivery.message
        task = self.app.tasks.get(message.task)
        if task is None:
            known = ", ".join(sorted(self.app.tasks)) or "none"
            reason = f"unknown task {message.task!r}: no such task registered (known: {known})"
            return None, self._bury(delivery, reason, None, ("UnknownTask", reason, None))
        if message.expires is not None and message.expires <= self.app.clock.now():
            # Reserved in time but not started in time (it waited in the worker's prefetch).
            return None, self._end(delivery, task, "EXPIRED")
        if task.options.rate_limit is not None and not self._admitted(delivery, task):
            return None, Outcome.POSTPONED
        self.announce(delivery)
        if task.options.track_started:
            report_state(self.broker, delivery, "STARTED", self._ttl(task))
        return task, None

    def announce(self, delivery: Delivery) -> None:
        """Log and tell plugins that ``delivery`` starts (``taskq_task_started``).

        :meth:`admit` does it; a delivery whose admission needs nothing else (no expiry, rate
        limit or ``track_started``) may be announced alone.
        """
        if log.isEnabledFor(logging.DEBUG):
            log.debug("Task %s[%s] received", delivery.message.task, delivery.id)
        if implementations("taskq_task_started"):
            notify("taskq_task_started", delivery=delivery)

    def failed(self, delivery: Delivery, task: Task[..., Any], exc: BaseException) -> Outcome:
        """Settle a delivery whose task raised ``exc``: retry, dead, revoked or lost."""
        if isinstance(exc, ChildLost):
            return self._abandon(delivery, exc)
        if isinstance(exc, TaskTerminated):
            return self._end(delivery, task, "REVOKED")
        if isinstance(exc, Retry):
            return self._retry_or_bury(delivery, task, exc, exc.delay)
        if isinstance(exc, RemoteFailure):
            delay = exc.retry_delay if exc.requested else None
            return self._retry_or_bury(delivery, task, exc, delay)
        return self._retry_or_bury(delivery, task, exc, None)

    def succeeded(
        self, delivery: Delivery, task: Task[..., Any], value: object, runtime: float
    ) -> Outcome | None:
        """Settle a delivery whose task returned ``value``: ack it (``None``: in the background).

        Waits for the broker only when a plugin listens to ``taskq_task_succeeded``, the acker
        acks inline, or a workflow step's value cannot be stored.
        """
        message = delivery.message
        if log.isEnabledFor(logging.INFO):  # with logging at WARNING this check is all it costs
            log.info(
                "Task %s[%s] succeeded in %.3fs: %s",
                message.task,
                message.id,
                runtime,
                RESULT_REPR.repr(value),
            )
        result = None if task.options.ignore_result else success_result(delivery, value)
        self._holdings.stop_renewing(delivery)
        listening = bool(implementations("taskq_task_succeeded"))
        flow = flow_of(message) if message.headers else None  # plain tasks: one truth test
        then = None
        if flow is not None:
            if result is not None and result.status == "FAILURE":
                return self._unsendable(delivery, task, flow, result)
            then = on_success(flow, delivery, tuples_to_lists(value), self.app.clock.now())
        done = Succeeded(delivery, result, self._ttl(task), value, runtime, then)
        if not listening and self._acker.background:
            self._acker.submit(done)
            return None
        if not self._acker.ack(done):
            log.warning("lease of %s was lost before its ack; the result is discarded", message.id)
            return Outcome.LOST
        if listening:
            notify("taskq_task_succeeded", delivery=delivery, result=value, runtime=runtime)
        return Outcome.ACKED

    def _unsendable(
        self,
        delivery: Delivery,
        task: Task[..., Any],
        flow: dict[str, Any],
        result: TaskResult,
    ) -> Outcome:
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
            return Outcome.LOST
        notify("taskq_task_dead", message=delivery.message, reason=reason)
        return Outcome.DEAD

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
        self._holdings.stop_renewing(delivery)
        if not self.broker.postpone(delivery, delay=wait):
            log.warning("lease of %s was lost before it could be postponed", delivery.id)
        return False

    def _end(self, delivery: Delivery, task: Task[..., Any], status: EndStatus) -> Outcome:
        """End the delivery unrun or stopped: revoked, or expired before it started."""
        self._holdings.stop_renewing(delivery)
        ttl = self._ttl(task)
        if not self._patiently(
            delivery, lambda: self.broker.end(delivery, status=status, result_ttl=ttl)
        ):
            log.warning("lease of %s was lost before it could end %s", delivery.id, status)
            return Outcome.LOST
        log.info("Task %s[%s] %s", task.name, delivery.id, status.lower())
        return Outcome(status.lower())

    def _abandon(self, delivery: Delivery, lost: ChildLost) -> Outcome:
        """The process running the task died: expire the lease so the reaper takes it now."""
        log.error("%s; its lease is expired for redelivery", lost)
        self._holdings.stop_renewing(delivery)
        self.broker.extend_lease([delivery], lease=0.0)
        return Outcome.LOST

    def _retry_or_bury(
        self,
        delivery: Delivery,
        task: Task[..., Any],
        exc: BaseException,
        requested_delay: float | None,
    ) -> Outcome:
        misfit = misfit_of(delivery, task, exc)
        if misfit is not None:  # retrying cannot help: the call itself is wrong
            return self._bury(delivery, f"{misfit}\n{failure_reason(exc)}", task, error_of(exc))
        policy = task.policy
        limit = delivery.message.max_retries
        max_retries = policy.max_retries if limit is None else limit
        if isinstance(exc, RemoteFailure):
            explicit, retryable = exc.requested, exc.retryable
        else:
            explicit, retryable = isinstance(exc, Retry), policy.retries_exception(exc)
        if not explicit and not retryable:
            return self._bury(delivery, failure_reason(exc), task, error_of(exc))
        if delivery.retries >= max_retries:
            reason = f"retries exhausted ({max_retries}): {failure_reason(exc)}"
            return self._bury(delivery, reason, task, error_of(exc))
        delay = policy.delay(delivery.retries) if requested_delay is None else requested_delay
        error = describe(exc) if not isinstance(exc, RemoteFailure) else exc.summary
        self._holdings.stop_renewing(delivery)
        if not self._patiently(
            delivery, lambda: self.broker.retry(delivery, delay=delay, error=error)
        ):
            log.warning("lease of %s was lost before its retry", delivery.id)
            return Outcome.LOST
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
            report_state(self.broker, delivery, "RETRY", self._ttl(task))
        notify("taskq_task_retried", delivery=delivery, error=error, delay=delay)
        return Outcome.RETRIED

    def _bury(
        self,
        delivery: Delivery,
        reason: str,
        task: Task[..., Any] | None,
        error: ErrorParts,
    ) -> Outcome:
        ignored = task is not None and task.options.ignore_result
        result = None if ignored else failure_result(delivery, error)
        self._holdings.stop_renewing(delivery)
        ttl = self._ttl(task)
        flow = flow_of(delivery.message)
        if flow is not None:
            then = on_failure(flow, delivery, reason.split("\n")[0], self.app.clock.now())

            def bury() -> bool:
                return Workflows.require(self.broker, WORKFLOW_STEP).dead_and_continue(
                    delivery, then, reason=reason, result=result, result_ttl=ttl
                )
        else:

            def bury() -> bool:
                return self.broker.dead(delivery, reason=reason, result=result, result_ttl=ttl)

        if not self._patiently(delivery, bury):
            log.warning("lease of %s was lost before it could go to DEAD", delivery.id)
            return Outcome.LOST
        first_line = reason.split("\n")[0]
        log.error("task %s[%s] is dead: %s", delivery.message.task, delivery.id, first_line)
        notify("taskq_task_dead", message=delivery.message, reason=reason)
        return Outcome.DEAD

    def _ttl(self, task: Task[..., Any] | None) -> float:
        if task is not None and task.options.result_ttl is not None:
            return task.options.result_ttl
        return self.app.result_ttl

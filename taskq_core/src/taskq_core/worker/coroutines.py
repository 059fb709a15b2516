"""``async def`` tasks as coroutines: many at once on the worker's loop, no pool thread each.

In the ``threads`` and ``solo`` pools, a pool thread that takes the delivery of an ``async def``
task only starts it: it waits for one of the worker's ``async_concurrency`` slots, hands the
coroutine to the worker's event loop (``aio.py``) and takes its next delivery. So a worker runs
up to ``async_concurrency`` coroutines at once (``--async-concurrency 1000``) however small its
pool, while its ``concurrency`` bounds the synchronous tasks.

A started coroutine stops counting against the pool's slots (``Holdings.unslot``): the consumer
reserves more for the pool while it runs, and its lease stays held and renewed by the heartbeat
until it is settled. On the loop, the task's hard time limit cancels it at its next ``await``
(``TimeLimitExceeded``), as does ``revoke(terminate=True)`` (``TaskTerminated``). A plain success
is handed to the acker right on the loop (that never waits for the broker); every other ending
(a failure, a workflow step, a success a ``taskq_task_succeeded`` plugin waits for) is settled
on the loop's executor threads, so the loop never blocks on a broker call.

A graceful shutdown waits for running coroutines like any running task. A coroutine still
running when the loop closes (second signal, or the grace period ran out) is cancelled and not
settled: its lease brings the message back.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import inspect
import logging
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from taskq_core.errors import TaskTerminated, TimeLimitExceeded
from taskq_core.execution import execute
from taskq_core.plugins import implementations
from taskq_core.worker.link import one_line
from taskq_core.worker.outcome import Outcome

if TYPE_CHECKING:
    from taskq_core.schemas import Delivery
    from taskq_core.task import Task
    from taskq_core.worker.aio import EventLoopThread
    from taskq_core.worker.holding import Holdings
    from taskq_core.worker.revocation import Stoppers
    from taskq_core.worker.runner import DeliveryRunner

log = logging.getLogger("taskq.worker")

#: Seconds a graceful stop waits for the loop to hand over its waiting deliveries.
TAKE_TIMEOUT = 5.0


class CoroutineRuns:
    """Starts ``async def`` tasks on the loop, at most ``limit`` running at once.

    Args:
        runner: Admits each delivery and settles it when its coroutine ends.
        holdings: What the worker holds; a delivery handed to the loop is unslotted there.
        loop: The worker's event loop thread.
        stoppers: Where a running coroutine can be terminated (revoke).
        limit: Coroutines running at once; more wait on the loop, in arrival order.
    """

    def __init__(
        self,
        runner: DeliveryRunner,
        holdings: Holdings,
        loop: EventLoopThread,
        stoppers: Stoppers,
        limit: int,
    ) -> None:
        self._runner = runner
        self._holdings = holdings
        self._loop = loop
        self._stoppers = stoppers
        self.limit = limit
        # Touched on the loop's thread only:
        self._running = 0
        self._waiting: collections.deque[tuple[Delivery, Task[..., Any], bool]] = (
            collections.deque()
        )
        #: The asyncio tasks running, referenced so none is collected before it ends.
        self._tasks: set[asyncio.Task[None]] = set()

    def route(self, batch: list[Delivery] | None) -> list[Delivery] | None:
        """Hand a reserved batch's coroutines to the loop (one hand-off); return the rest.

        Taken here: deliveries of known ``async def`` tasks whose admission needs no broker
        call (no rate limit, no ``track_started``, no expiry). The others go to the pool,
        which admits them and then hands them over with :meth:`start`.
        """
        if not batch:
            return batch
        tasks = self._runner.app.tasks
        mine: list[tuple[Delivery, Task[..., Any], bool]] = []
        rest: list[Delivery] = []
        for delivery in batch:
            task = tasks.get(delivery.message.task)
            if (
                task is not None
                and task.is_async
                and delivery.message.expires is None
                and task.options.rate_limit is None
                and not task.options.track_started
            ):
                mine.append((delivery, task, False))
            else:
                rest.append(delivery)
        self._holdings.unslot([delivery for delivery, _, _ in mine])
        if mine:
            self._loop.call_soon(self._arrive, mine)
        return rest

    def take_waiting(self) -> list[Delivery]:
        """Remove and return the deliveries waiting on the loop for a slot (a graceful stop)."""

        def taken() -> list[Delivery]:
            waiting = [delivery for delivery, _, _ in self._waiting]
            self._waiting.clear()
            return waiting

        try:
            return self._loop.call(taken, timeout=TAKE_TIMEOUT) or []
        except TimeoutError:  # a coroutine blocks the loop: they start there or come back
            log.warning("the event loop did not answer; its waiting tasks stay on it")
            return []

    def start(self, delivery: Delivery, task: Task[..., Any]) -> None:
        """Admit ``delivery`` on a pool thread (broker calls allowed), then hand it over."""
        admitted, ended = self._runner.admit(delivery)
        if admitted is None:
            self._runner.record(delivery, ended)
            return
        self._holdings.unslot([delivery])
        self._loop.call_soon(self._arrive, [(delivery, task, True)])

    def _arrive(self, arrivals: list[tuple[Delivery, Task[..., Any], bool]]) -> None:
        """On the loop: admit what was not admitted yet, start up to the limit, queue the rest."""
        runner = self._runner
        for delivery, task, admitted in arrivals:
            if not admitted:
                # Nothing to check for these (see route): only the announcement of the start.
                runner.announce(delivery)
            if self._running < self.limit:
                self._launch(delivery, task)
            else:
                self._waiting.append((delivery, task, True))

    def _launch(self, delivery: Delivery, task: Task[..., Any]) -> None:
        self._running += 1
        running = asyncio.get_running_loop().create_task(self._run(delivery, task))
        self._tasks.add(running)
        running.add_done_callback(self._ended)

    def _ended(self, running: asyncio.Task[None]) -> None:
        """A coroutine ended: start the next one waiting."""
        self._tasks.discard(running)
        self._running -= 1
        if self._waiting and self._running < self.limit:
            delivery, task, _ = self._waiting.popleft()
            self._launch(delivery, task)

    async def _run(self, delivery: Delivery, task: Task[..., Any]) -> None:
        """Run the coroutine, then settle it (on an executor thread unless it cannot block).

        The coroutine is what ``taskq_task_execute`` returned (a plugin may have replaced it
        with a value, which is then the task's value). While it runs, a termination request
        (revoke) cancels it, as does its hard time limit.
        """
        started = time.perf_counter()
        failure: BaseException | None = None
        value: Any = None
        stoppers, delivery_id = self._stoppers, delivery.id
        entered = False
        try:
            coroutine = execute(delivery, task)
            if not inspect.isawaitable(coroutine):
                value = coroutine
            else:
                loop = asyncio.get_running_loop()
                me = asyncio.current_task(loop)
                assert me is not None
                try:
                    stoppers.enter(
                        delivery_id, functools.partial(loop.call_soon_threadsafe, me.cancel)
                    )
                except TaskTerminated:
                    if inspect.iscoroutine(coroutine):
                        coroutine.close()
                    raise
                entered = True
                limit = task.options.time_limit
                value = await (_timed(coroutine, limit) if limit else coroutine)
        except asyncio.CancelledError as exc:
            me = asyncio.current_task()
            assert me is not None
            if entered:
                entered = False
                if stoppers.leave(delivery_id):  # revoked: the task's end, not the loop's
                    me.uncancel()
                    failure = TaskTerminated(f"task {delivery_id} was revoked; cancelled")
            if failure is None:
                if me.cancelling():
                    raise  # the loop is closing: not settled, the lease brings the message back
                failure = exc  # the task raised it itself: its failure
        except BaseException as exc:
            failure = exc
        finally:
            if entered:
                stoppers.leave(delivery_id)
        runtime = time.perf_counter() - started
        if (prefetch := self._holdings.loop_prefetch) is not None:
            prefetch.observe(runtime)
        runner = self._runner
        try:
            if failure is not None:
                outcome = await _off_loop(runner.failed, delivery, task, failure)
            elif delivery.message.headers or implementations("taskq_task_succeeded"):
                outcome = await _off_loop(runner.succeeded, delivery, task, value, runtime)
            else:  # a plain success: handed to the background acker, no broker call here
                outcome = runner.succeeded(delivery, task, value, runtime)
        except Exception as exc:
            log.error(
                "could not settle %s (%s); its lease will return it", delivery.id, one_line(exc)
            )
            log.debug("settle failure", exc_info=True)
            outcome = Outcome.ERROR
        runner.record(delivery, outcome)


async def _timed(coroutine: Awaitable[Any], limit: float) -> Any:
    """Await ``coroutine``, cancelled at its hard time limit (``TimeLimitExceeded``)."""
    timeout = asyncio.timeout(limit)
    try:
        async with timeout:
            return await coroutine
    except TimeoutError:
        if timeout.expired():
            raise TimeLimitExceeded(f"time limit ({limit:g}s) exceeded; cancelled") from None
        raise


async def _off_loop(function: Any, *args: Any) -> Outcome | None:
    """Run a settling ``function`` on the loop's executor, so the loop never waits on a broker."""
    outcome: Outcome | None = await asyncio.get_running_loop().run_in_executor(
        None, function, *args
    )
    return outcome

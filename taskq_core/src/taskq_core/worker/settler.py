"""Coalesced acks: tasks that succeeded are acked in batches, by one settler thread.

A pool thread whose task succeeded hands the delivery (with its result) to the :class:`Settler`
and takes its next task at once; the settler thread acks everything handed over since its last
round trip with one :meth:`~taskq_core.broker.BaseBroker.ack_many` call. While one batch is on
its way, the next one fills up, so under load the acks of many tasks share one round trip, and
when idle a single ack goes out as soon as it is handed over (no timer, no added wait).

What holds:

* ``taskq_task_succeeded`` fires only after the ack succeeded, on the thread that ran the task
  (as documented for every task hook): when a plugin implements it, the pool thread hands its
  delivery over with :meth:`Settler.ack` and waits for the batch's answer, so the acks of
  concurrent tasks still share round trips. With no such plugin (the common case) the pool
  thread does not wait (:meth:`Settler.submit`). A refused ack (lost lease) is logged, never
  raised, as before.
* Results travel with the batch, stored whether or not their ack then succeeds.
* A delivery stays held by the worker (counted against its slots, its lease renewed by the
  heartbeat) until its ack has been answered.
* At-least-once: a crash between a task's end and its (coalesced) ack leaves the message in
  PROCESSING; its lease brings it back and it runs again, as for a crash during the task.
  Nothing acked is ever lost. :meth:`close` flushes what is pending, so a graceful shutdown
  acks every finished task.
* While the broker is unreachable, a batch is tried again until the latest lease deadline in
  it (``link.patiently``): the worker still holds those leases, so giving up sooner would only
  make the messages run again. A repeated ack whose first reply was lost counts as acked.

Retries and burials are rare and keep their own synchronous broker call on the pool thread.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from taskq_core.capabilities import Workflows
from taskq_core.worker.link import BrokerLink, one_line, patiently

if TYPE_CHECKING:
    from collections.abc import Callable

    from taskq_core.broker import BaseBroker
    from taskq_core.canvas.effects import Continuation
    from taskq_core.schemas import Delivery, TaskResult

log = logging.getLogger("taskq.worker")

#: Most deliveries acked in one ``ack_many`` call; more wait for the next round trip.
MAX_BATCH = 1000


@dataclass(slots=True)
class Succeeded:
    """A delivery whose task returned, waiting for its ack."""

    delivery: Delivery
    result: TaskResult | None
    result_ttl: float
    value: object
    runtime: float
    #: The follow-up of a workflow step, written in the same atomic step as its ack.
    continuation: Continuation | None = None
    #: Set by :meth:`Settler.ack` for a caller that waits for the answer.
    answered: threading.Event | None = None
    #: The answer: ``True`` acked, ``False`` lease lost, ``None`` the broker failed.
    acked: bool | None = None
    #: What the broker raised, handed to a waiting caller.
    error: Exception | None = None


class Settler:
    """Acks succeeded deliveries in batches on its own thread.

    Args:
        broker: Where to ack.
        settled: Called once per batch with each delivery and its outcome (``acked``, ``lost``
            or ``error``) once the acks were answered (or failed), so the worker can free the
            slots.
        name: Thread name.
        lease_deadline: ``time.monotonic()`` at which a held delivery's lease runs out; a
            batch is tried again while the broker is unreachable until the latest one. By
            default a batch is tried once.
        link: Told whether each attempt reached the broker.
    """

    def __init__(
        self,
        broker: BaseBroker,
        settled: Callable[[list[tuple[Delivery, str]]], None],
        *,
        name: str = "taskq-settler",
        lease_deadline: Callable[[Delivery], float] | None = None,
        link: BrokerLink | None = None,
    ) -> None:
        self._broker = broker
        self._settled = settled
        self._lease_deadline = lease_deadline
        self._link = link or BrokerLink()
        self._pending: list[Succeeded] = []
        self._changed = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, done: Succeeded) -> None:
        """Queue ``done`` for the next batch (never blocks on the broker).

        Its outcome goes to the ``settled`` callback; no hook fires.
        """
        with self._changed:
            self._pending.append(done)
            if len(self._pending) == 1:
                self._changed.notify()

    def ack(self, done: Succeeded) -> bool:
        """Queue ``done`` for the next batch and wait for its answer: acked, or lease lost.

        Raises:
            Exception: what the broker raised; the lease will bring the message back.
        """
        done.answered = threading.Event()
        self.submit(done)
        done.answered.wait()
        if done.error is not None:
            raise done.error
        return bool(done.acked)

    def close(self, timeout: float | None = None) -> None:
        """Ack everything handed over so far, then stop the thread."""
        with self._changed:
            self._closing = True
            self._changed.notify()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            with self._changed:
                while not self._pending and not self._closing:
                    self._changed.wait()
                batch = self._pending[:MAX_BATCH]
                del self._pending[:MAX_BATCH]
                if not batch and self._closing:
                    return
            self.settle(batch)

    def settle(self, batch: list[Succeeded]) -> None:
        """Ack ``batch`` in one call; answer the waiting callers, report the others."""
        deliveries = [done.delivery for done in batch]

        def ack_many() -> list[bool]:
            flows = [i for i, done in enumerate(batch) if done.continuation is not None]
            if flows:
                return self._ack_with_flows(batch, flows)
            if any(done.result is not None for done in batch):
                return self._broker.ack_many(
                    deliveries,
                    results=[done.result for done in batch],
                    result_ttl=[done.result_ttl for done in batch],
                )
            return self._broker.ack_many(deliveries)

        def until() -> float:
            deadline = self._lease_deadline
            return max(map(deadline, deliveries)) if deadline is not None else time.monotonic()

        what = f"{len(batch)} acks" if len(batch) > 1 else f"the ack of {deliveries[0].id}"
        acked: list[bool] | None
        try:
            acked = patiently(ack_many, until=until, link=self._link, what=what)
        except Exception as exc:
            # The broker failed until the leases ran out; the reaper will bring them back.
            if any(done.answered is None for done in batch):
                log.error(
                    "could not ack %d deliveries (%s); their leases will return them",
                    len(batch),
                    one_line(exc),
                )
                log.debug("ack failure", exc_info=True)
            acked = None
            for done in batch:
                done.error = exc
        outcomes: list[tuple[Delivery, str]] = []
        for index, done in enumerate(batch):
            if acked is not None:
                done.acked = acked[index]
            if done.answered is not None:
                done.answered.set()
                continue
            if done.acked is None:
                outcome = "error"
            elif done.acked:
                outcome = "acked"
            else:
                outcome = "lost"
                log.warning(
                    "lease of %s was lost before its ack; the result is discarded", done.delivery.id
                )
            outcomes.append((done.delivery, outcome))
        if outcomes:
            self._settled(outcomes)

    def _ack_with_flows(self, batch: list[Succeeded], flows: list[int]) -> list[bool]:
        """Workflow steps with ``ack_and_continue_many``, the others with ``ack_many``."""
        steps = [batch[i] for i in flows]
        workflows = Workflows.require(self._broker, "a workflow step")
        continued = workflows.ack_and_continue_many(
            [done.delivery for done in steps],
            [done.continuation for done in steps if done.continuation is not None],
            results=[done.result for done in steps],
            result_ttl=[done.result_ttl for done in steps],
        )
        acked = [False] * len(batch)
        for index, flag in zip(flows, continued, strict=True):
            acked[index] = flag
        plain = [i for i in range(len(batch)) if batch[i].continuation is None]
        if plain:
            flags = self._broker.ack_many(
                [batch[i].delivery for i in plain],
                results=[batch[i].result for i in plain],
                result_ttl=[batch[i].result_ttl for i in plain],
            )
            for index, flag in zip(plain, flags, strict=True):
                acked[index] = flag
        return acked

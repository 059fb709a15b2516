"""Coalesced acks: tasks that succeeded are acked in batches, by one acker thread.

A pool thread whose task succeeded hands the delivery (with its result) to the :class:`Acker`
and takes its next task at once; the acker thread acks everything handed over since its last
round trip with one :meth:`~taskq_core.broker.BaseBroker.ack_many` call. Round trips start at
most once per ``interval`` (:data:`ACK_INTERVAL`, 1 ms): under load the acks of about a
millisecond of tasks share one round trip, and an ack handed over after a quiet millisecond goes
out at once (an idle worker adds no wait). Without the interval, tasks that end a few at a time
(I/O-bound ones, on a few threads) would cost a round trip each; with it, one worker process
drained a quarter more tasks making one Redis round trip each (``bench/``, ``--body redis``).

What holds:

* ``taskq_task_succeeded`` fires only after the ack succeeded, on the thread that ran the task
  (as documented for every task hook): when a plugin implements it, the pool thread hands its
  delivery over with :meth:`Acker.ack` and waits for the batch's answer, so the acks of
  concurrent tasks still share round trips. With no such plugin (the common case) the pool
  thread does not wait (:meth:`Acker.submit`). A refused ack (lost lease) is logged, never
  raised.
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

An acker built with ``background=False`` has no thread: it acks each success on the caller's
thread at once (``run_until_idle``, the conformance kit), through the same batch code.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from taskq_core.capabilities import Workflows
from taskq_core.worker.link import BrokerLink, one_line, patiently
from taskq_core.worker.outcome import Outcome

if TYPE_CHECKING:
    from taskq_core.broker import BaseBroker
    from taskq_core.canvas.effects import Continuation
    from taskq_core.schemas import Delivery, TaskResult
    from taskq_core.worker.holding import Holdings

log = logging.getLogger("taskq.worker")

#: Most deliveries acked in one ``ack_many`` call; more wait for the next round trip.
MAX_BATCH = 1000
#: Shortest time in seconds between the starts of two ack round trips.
ACK_INTERVAL = 0.001


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
    #: Set by :meth:`Acker.ack` for a caller that waits for the answer.
    answered: threading.Event | None = None
    #: The answer: ``True`` acked, ``False`` lease lost, ``None`` the broker failed.
    acked: bool | None = None
    #: What the broker raised, handed to a waiting caller.
    error: Exception | None = None


class Acker:
    """Acks succeeded deliveries in batches, on its own thread unless ``background=False``.

    Args:
        broker: Where to ack.
        holdings: What the worker holds: told each handed-over delivery's outcome once its ack
            was answered (or failed), which frees its slot. Its lease deadlines bound how long
            a batch is tried again while the broker is unreachable (one attempt for deliveries
            it does not hold).
        link: Told whether each attempt reached the broker.
        name: Thread name.
        background: Ack on a thread of its own; ``False`` acks on the caller's thread at once.
        interval: Shortest time in seconds between the starts of two round trips (in the
            background); what is handed over meanwhile waits for the next one.
    """

    def __init__(
        self,
        broker: BaseBroker,
        holdings: Holdings,
        *,
        link: BrokerLink | None = None,
        name: str = "taskq-acker",
        background: bool = True,
        interval: float = ACK_INTERVAL,
    ) -> None:
        self._broker = broker
        self._interval = interval
        self._holdings = holdings
        self._link = link or BrokerLink()
        #: Handed over and not acked yet; ``None`` is :meth:`close`'s request to stop.
        self._pending: list[Succeeded | None] = []
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
            self._thread.start()

    @property
    def background(self) -> bool:
        """Whether acks go out on the acker's own thread (so :meth:`submit` never waits)."""
        return self._thread is not None

    def submit(self, done: Succeeded) -> None:
        """Queue ``done`` for the next batch (in the background: never blocks on the broker).

        Its outcome goes to the holdings; no hook fires.
        """
        if self._thread is None:
            self.ack_batch([done])
            return
        with self._changed:
            self._pending.append(done)
            if len(self._pending) == 1:
                self._changed.notify()

    def ack(self, done: Succeeded) -> bool:
        """Ack ``done`` with the next batch and wait for its answer: acked, or lease lost.

        The caller records the outcome.

        Raises:
            Exception: what the broker raised; the lease will bring the message back.
        """
        done.answered = threading.Event()
        if self._thread is None:
            self.ack_batch([done])
        else:
            self.submit(done)
            done.answered.wait()
        if done.error is not None:
            raise done.error
        return bool(done.acked)

    def close(self, timeout: float | None = None) -> None:
        """Ack everything handed over so far, then stop the thread."""
        if self._thread is None:
            return
        with self._changed:
            self._pending.append(None)
            self._changed.notify()
        self._thread.join(timeout)

    def _loop(self) -> None:
        sent_at = -self._interval
        while True:
            with self._changed:
                while not self._pending:
                    self._changed.wait()
                due = sent_at + self._interval
                # close() (its None last) cuts the wait short: a shutdown acks at once.
                while self._pending[-1] is not None and (left := due - time.monotonic()) > 0:
                    self._changed.wait(left)
                sent_at = time.monotonic()
                taken = self._pending[:MAX_BATCH]
                del self._pending[:MAX_BATCH]
            batch = [done for done in taken if done is not None]
            if batch:
                self.ack_batch(batch)
            if len(batch) < len(taken):  # close() asked to stop, after what came before it
                return

    def ack_batch(self, batch: list[Succeeded]) -> None:
        """Ack ``batch`` in one call; answer the waiting callers, record the others' outcomes."""
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
            return max(map(self._holdings.lease_deadline, deliveries))

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
        outcomes: list[tuple[Delivery, Outcome]] = []
        for index, done in enumerate(batch):
            if acked is not None:
                done.acked = acked[index]
            if done.answered is not None:
                done.answered.set()
                continue
            if done.acked is None:
                outcome = Outcome.ERROR
            elif done.acked:
                outcome = Outcome.ACKED
            else:
                outcome = Outcome.LOST
                log.warning(
                    "lease of %s was lost before its ack; the result is discarded", done.delivery.id
                )
            outcomes.append((done.delivery, outcome))
        if outcomes:
            self._holdings.settled(outcomes)

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

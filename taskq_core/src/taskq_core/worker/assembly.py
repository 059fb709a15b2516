"""How a started worker's parts are built, and which collaborators each one is given.

=================  ===========================================================================
part               given
=================  ===========================================================================
``Holdings``       (built with the worker) what is held; each part below records in it directly
``Consumer``       the broker, the holdings, the ``DRAINING`` event, the coroutines' router:
                   reserves, holds, hands coroutines to the loop
``DeliveryRunner`` the broker, the holdings, the acker, the invoker, the link, the prefetch,
                   ``async_concurrency``: runs each delivery (``async def`` ones as
                   coroutines on the loop), settles it and records its outcome
``Acker``          the broker, the holdings, the link: acks successes in batches, records them
pool               the runner's ``run_in_pool`` (and, for ``threads``, the consumer's reserve)
``Heartbeat``      the broker, the holdings, the link: liveness and lease renewal
timers             heartbeat, schedule poll, reaper; they end at ``CLOSING``
=================  ===========================================================================
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from taskq_core.capabilities import Revocation
from taskq_core.periodic.scheduler import Scheduler
from taskq_core.worker.acker import Acker
from taskq_core.worker.banner import BANNER_LOGGER, banner
from taskq_core.worker.consumer import Consumer
from taskq_core.worker.heartbeat import Heartbeat
from taskq_core.worker.invoke import InProcessInvoker, Invoker
from taskq_core.worker.lifecycle import Phase
from taskq_core.worker.pools import Pool, SoloPool, ThreadPool
from taskq_core.worker.processes import ProcessInvoker
from taskq_core.worker.revocation import TerminationListener
from taskq_core.worker.runner import DeliveryRunner
from taskq_core.worker.upkeep import Timer, poll_schedules, reap

if TYPE_CHECKING:
    from taskq_core.broker import BaseBroker
    from taskq_core.worker.coroutines import CoroutineRuns
    from taskq_core.worker.worker import Worker


@dataclass(frozen=True)
class Parts:
    """The running parts of a started worker, for its shutdown and health checks."""

    broker: BaseBroker
    consumer: Consumer
    pool: Pool
    invoker: Invoker
    acker: Acker
    heartbeat: Heartbeat
    timers: list[Timer]
    #: The consumer thread of the ``solo`` and ``processes`` pools (``threads`` consumes on
    #: the pool's own threads).
    consumer_thread: threading.Thread | None
    scheduler: Scheduler | None
    #: Where ``async def`` tasks run as coroutines (``None``: on the pool).
    coroutines: CoroutineRuns | None


def assemble(worker: Worker, broker: BaseBroker) -> Parts:
    """Log the banner, build ``worker``'s parts on ``broker`` and start their threads."""
    logging.getLogger(BANNER_LOGGER).info("%s", banner(worker, worker.info.version))
    life, holdings, link = worker.lifecycle, worker.holdings, worker.link
    draining, closing = life.reached(Phase.DRAINING), life.reached(Phase.CLOSING)
    invoker: Invoker = (
        ProcessInvoker(worker.app_spec, worker.app.reveal_broker_url(), worker.recycling)
        if worker.pool_name == "processes" and worker.app_spec is not None
        else InProcessInvoker()
    )
    prefix = f"taskq-{worker.id}"
    acker = Acker(broker, holdings, link=link, name=f"{prefix}-acker")
    runner = DeliveryRunner(
        worker.app,
        broker,
        holdings=holdings,
        acker=acker,
        invoker=invoker,
        link=link,
        prefetch=worker.prefetch_policy,
        async_concurrency=worker.async_concurrency,
    )
    consumer = Consumer(
        broker,
        holdings,
        draining,
        worker_id=worker.id,
        queues=worker.queue_order.next,
        slots=worker.slots,
        lease=worker.visibility_timeout,
        block_timeout=worker.block_timeout,
        route=None if runner.coroutines is None else runner.coroutines.route,
    )
    run = runner.run_in_pool
    pool: Pool
    if worker.pool_name == "solo":
        pool = SoloPool(run)
    elif worker.pool_name == "threads":
        # The pool's threads take turns at consuming (see ThreadPool): no consumer thread.
        pool = ThreadPool(
            worker.concurrency,
            run,
            closing=closing,
            thread_prefix=prefix,
            consume=consumer.reserve_batch,
        )
    else:
        pool = ThreadPool(worker.concurrency, run, closing=closing, thread_prefix=prefix)
    heartbeat = Heartbeat(broker, holdings, link, worker.info)
    queues = worker.queues
    timers = [
        Timer("heartbeat", worker.heartbeat_interval, heartbeat.beat, closing, warn_starved=True),
        Timer(
            "schedule-poll",
            worker.schedule_poll_interval,
            lambda: poll_schedules(broker, queues),
            closing,
        ),
        Timer(
            "reaper",
            worker.reaper_interval,
            lambda: reap(
                broker, queues, worker.worker_timeout, worker.app.result_ttl, reaper=worker.id
            ),
            closing,
        ),
    ]
    for timer in timers:
        timer.start()
    if isinstance(broker, Revocation):
        TerminationListener(broker, worker.id, queues, invoker.stoppers, closing).start()
    scheduler = None
    if worker.scheduler and worker.app.periodic_schedules:
        schedules = list(worker.app.periodic_schedules.values())
        scheduler = Scheduler(worker.app, schedules, draining)
        scheduler.start()
    consumer_thread = None
    if worker.pool_name != "threads":
        consumer_thread = threading.Thread(
            target=consumer.run, args=(pool,), name="taskq-consumer", daemon=True
        )
        consumer_thread.start()
    return Parts(
        broker,
        consumer,
        pool,
        invoker,
        acker,
        heartbeat,
        timers,
        consumer_thread,
        scheduler,
        runner.coroutines,
    )

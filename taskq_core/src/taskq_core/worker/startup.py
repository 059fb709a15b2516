"""A starting worker waits for its broker: retries with capped exponential backoff and jitter.

Containers and hosts start in any order, and a restarted Redis refuses commands while it loads
its data (``LOADING``), so a worker that finds no broker at start waits for one instead of
exiting, as Celery does by default (``broker_connection_retry_on_startup``). Each failed attempt
logs one line with its cause. The wait ends with the broker reachable, with a stop request (a
signal or ``stop()``: the worker exits cleanly, having started nothing), or with
:class:`BrokerWaitExpired` (a :class:`~taskq_core.errors.BrokerUnavailable`) once
``connect_timeout`` seconds are spent; ``taskq worker`` then exits with status
:data:`BROKER_WAIT_EXPIRED_STATUS`.

Only :class:`~taskq_core.errors.BrokerUnavailable` is retried. A wrong URL, an unknown scheme or
a Redis too old is a :class:`~taskq_core.errors.ConfigurationError` that waiting cannot fix, so
it is raised at once.
"""

from __future__ import annotations

import logging
import random
import time
from typing import TYPE_CHECKING

from taskq_core.capabilities import PeriodicTicks, QueueControl, RateLimiter
from taskq_core.errors import BrokerUnavailable
from taskq_core.periodic.schedule import PERIODIC

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from taskq_core.app import Taskq
    from taskq_core.broker import BaseBroker

log = logging.getLogger("taskq.worker")

#: Pause after the first failed attempt, in seconds; doubled after each further one.
FIRST_RETRY_DELAY = 0.5
#: Longest pause between two attempts, in seconds.
MAX_RETRY_DELAY = 10.0
#: Longest single wait on the stop check, in seconds: how soon a stop request ends the wait.
STOP_CHECK_INTERVAL = 0.2
#: Exit status of ``taskq worker`` when the broker stayed unreachable for ``--connect-timeout``
#: (Dramatiq's ``RET_CONNECT``): the supervisor of ``--processes N`` stops on it instead of
#: restarting the process, so the bound holds for the whole command.
BROKER_WAIT_EXPIRED_STATUS = 3
#: Exit status of ``taskq worker`` when its start met a configuration that cannot work (refused
#: credentials, a capability the backend lacks: a ``ConfigurationError``; Gunicorn's
#: ``APP_LOAD_ERROR``): the supervisor stops every process on it, since each restart would fail
#: the same way.
CONFIGURATION_ERROR_STATUS = 4


class BrokerWaitExpired(BrokerUnavailable):
    """The broker stayed unreachable for the whole ``connect_timeout`` at start."""


def retry_delay(attempt: int) -> float:
    """Pause after failed attempt ``attempt`` (1-based): exponential, capped, "equal jitter".

    Half of the exponential step is fixed and half random, so a fleet started together spreads
    out while no pause is much shorter than the step.
    """
    step = min(MAX_RETRY_DELAY, FIRST_RETRY_DELAY * 2.0 ** min(attempt - 1, 32))
    return step / 2 + random.uniform(0, step / 2)


def wait_for_broker(
    app: Taskq,
    queues: Sequence[str],
    *,
    stop_requested: Callable[[], bool],
    connect_timeout: float | None = None,
    scheduler: bool = False,
) -> BaseBroker | None:
    """Connect the app's broker and write the queues' caps, retrying until it works.

    Args:
        app: The app whose broker to reach.
        queues: The worker's queues; caps from ``app.queue_limits`` are written for them.
        stop_requested: Polled while waiting; ``True`` ends the wait.
        connect_timeout: Seconds to keep trying; ``None`` waits as long as it takes.
        scheduler: The worker runs the app's periodic schedules (they need ``PeriodicTicks``).

    Returns:
        The connected broker, or ``None`` when a stop was requested first.

    Raises:
        BrokerWaitExpired: still unreachable after ``connect_timeout`` seconds.
        ConfigurationError: a mistake in the URL or the server that no wait can fix, or a
            capability the app needs that the backend lacks (``MissingCapability``).
    """
    give_up = None if connect_timeout is None else time.monotonic() + connect_timeout
    attempt = 0
    while True:
        attempt += 1
        try:
            broker = app.broker
            require_capabilities(app, broker, scheduler=scheduler)
            broker.connect()
            for queue in queues:
                if queue in app.queue_limits:
                    limits = QueueControl.require(broker, "app.queue_limits")
                    limits.set_queue_limit(queue, max_in_flight=app.queue_limits[queue])
        except BrokerUnavailable as exc:
            delay = retry_delay(attempt)
            remaining = None if give_up is None else give_up - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise BrokerWaitExpired(
                    f"{exc} (gave up after {attempt} attempts in {connect_timeout:g}s)"
                ) from exc
            if remaining is not None:
                delay = min(delay, remaining)
            cause = str(exc).rstrip(".")
            log.warning(
                "broker not ready (attempt %d): %s; retrying in %.1fs", attempt, cause, delay
            )
            if _stopped_within(delay, stop_requested):
                log.info("stop requested while waiting for the broker; exiting")
                return None
            continue
        if attempt > 1:
            log.info("broker reachable after %d attempts", attempt)
        return broker


def require_capabilities(app: Taskq, broker: BaseBroker, *, scheduler: bool = False) -> None:
    """Refuse to start on a backend without a capability the app's tasks need.

    Raises:
        MissingCapability: a task has ``rate_limit=`` and the backend has no rate limiter (one
            line naming the task), or the worker would run periodic schedules and the backend
            cannot claim ticks; so the worker fails at start instead of at its first run.
    """
    for task in app.tasks.values():
        if task.options.rate_limit is not None:
            RateLimiter.require(broker, f"rate_limit= of task {task.name!r}")
    if scheduler and app.periodic_schedules:
        PeriodicTicks.require(broker, PERIODIC)


def _stopped_within(delay: float, stop_requested: Callable[[], bool]) -> bool:
    """Wait ``delay`` seconds, checking ``stop_requested`` often; whether a stop came."""
    deadline = time.monotonic() + delay
    while not stop_requested():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(remaining, STOP_CHECK_INTERVAL))
    return True

"""``taskq worker``: run a worker for an app's tasks until SIGTERM/SIGINT."""

from __future__ import annotations

import gc
import logging
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from taskq_core.backends import connect
from taskq_core.cli.common import load_app, one_line_errors, rebind
from taskq_core.errors import ConfigurationError, TaskqError
from taskq_core.monitoring.options import WorkerMonitoring, monitoring_options
from taskq_core.worker import POOLS, Worker
from taskq_core.worker.banner import BANNER_LOGGER
from taskq_core.worker.options import (
    WORKER_ENV_PREFIX,
    async_options,
    recycling_options,
    show_envvars,
)
from taskq_core.worker.queues import QUEUE_ORDERS
from taskq_core.worker.startup import (
    BROKER_WAIT_EXPIRED_STATUS,
    CONFIGURATION_ERROR_STATUS,
    BrokerWaitExpired,
)
from taskq_core.worker.supervisor_child import supervise

#: Heartbeat interval of ``taskq worker`` when the lease is long enough for it, in seconds.
DEFAULT_HEARTBEAT_SECONDS = 5.0


def positive_seconds(
    ctx: click.Context, param: click.Parameter, value: float | None
) -> float | None:
    """Refuse zero, negative, infinite and NaN durations in one line naming the flag."""
    if value is not None and not (math.isfinite(value) and value > 0):
        flag = max(param.opts, key=len)
        raise click.ClickException(f"{flag} must be > 0 (seconds), got {value:g}")
    return value


def heartbeat_for(visibility_timeout: float, heartbeat_interval: float | None) -> float:
    """The heartbeat interval: the one given, else one that renews a lease four times over.

    Raises:
        click.ClickException: the given interval is longer than half the lease, so a lease
            could expire between two heartbeats of a live worker.
    """
    if heartbeat_interval is None:
        return min(DEFAULT_HEARTBEAT_SECONDS, visibility_timeout / 4)
    if heartbeat_interval * 2 > visibility_timeout:
        raise click.ClickException(
            f"--heartbeat-interval ({heartbeat_interval:g}s) must be at most half of "
            f"--visibility-timeout ({visibility_timeout:g}s), or leases expire between heartbeats"
        )
    return heartbeat_interval


@contextmanager
def flag_names(ctx: click.Context) -> Iterator[None]:
    """Name a command's flags, not the Python parameters behind them, in taskq's errors.

    ``heartbeat_interval`` in a ``ConfigurationError`` from ``Worker`` reads as
    ``--heartbeat-interval``; names without an underscore are left alone, since words such as
    ``name`` or ``pool`` appear in messages in their ordinary sense.
    """
    try:
        yield
    except TaskqError as exc:
        message = str(exc)
        for param in ctx.command.params:
            if param.name and "_" in param.name and isinstance(param, click.Option):
                flag = max(param.opts, key=len)
                message = re.sub(rf"\b{param.name}\b", flag, message)
        raise click.ClickException(message) from None


@show_envvars
@click.command(context_settings={"auto_envvar_prefix": WORKER_ENV_PREFIX, "show_default": True})
@click.argument("app_spec", metavar="MODULE:APP")
@click.option("--broker", metavar="URL", help="Override the app's broker URL.")
@click.option(
    "-Q",
    "--queues",
    help="Comma-separated queues, name:weight to weight them (default: all of the app's).",
)
@click.option(
    "--queue-order",
    type=click.Choice(QUEUE_ORDERS),
    default=QUEUE_ORDERS[0],
    show_default=True,
    help="fair: round-robin (weighted) over the queues, none starves; "
    "strict: a queue runs only when those listed before it are empty.",
)
@click.option(
    "-c",
    "--concurrency",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Tasks running at once in this worker (pool threads or child processes).",
)
@click.option(
    "--pool",
    type=click.Choice(POOLS),
    default="threads",
    show_default=True,
    help="threads: bodies share the GIL; processes: each body in a child process (isolation, "
    "hard time limits); solo: one task at a time on the consumer thread (-c is ignored).",
)
@click.option(
    "--processes",
    type=click.IntRange(min=1),
    default=1,
    help="Whole worker processes (each with its own -c slots) under one supervisor that "
    "restarts a dead one: all cores from one command. Not --pool processes (task bodies "
    "in child processes of one worker).",
)
@click.option(
    "--prefetch",
    type=click.IntRange(min=0),
    help="Reserved ahead of free slots (default: adaptive, ~0.1 s of work, at most 4 x -c).",
)
@click.option("--name", help="Worker id (default host:pid:random).")
@click.option(
    "--visibility-timeout",
    type=float,
    default=30.0,
    show_default=True,
    callback=positive_seconds,
    help="Lease seconds.",
)
@click.option(
    "--heartbeat-interval",
    type=float,
    callback=positive_seconds,
    help="Seconds between heartbeats (default: 5, or a quarter of a shorter lease).",
)
@click.option(
    "--connect-timeout",
    type=click.FloatRange(min=0),
    help="Seconds to keep retrying an unreachable broker at start (default: until it answers), "
    "then exit with status 3.",
)
@click.option(
    "--scheduler/--no-scheduler", default=True, help="Send the app's periodic tasks (default on)."
)
@click.option(
    "--loglevel",
    default="WARNING",
    show_default=True,
    help="INFO adds a line per task (tens of µs each); the start banner shows at any level.",
)
@click.option(
    "--shutdown-grace",
    type=click.FloatRange(min=0),
    default=30.0,
    help="Seconds running tasks get to finish after the first SIGTERM/SIGINT.",
)
@recycling_options  # --max-tasks-per-child, --max-memory-per-child (processes pool)
@async_options  # --async-concurrency
@monitoring_options  # --metrics-port/-host, --health-port/-host, --log-format
def worker(
    app_spec: str,
    broker: str | None,
    queues: str | None,
    queue_order: str,
    concurrency: int,
    pool: str,
    processes: int,
    prefetch: int | None,
    name: str | None,
    visibility_timeout: float,
    heartbeat_interval: float | None,
    connect_timeout: float | None,
    scheduler: bool,
    loglevel: str,
    shutdown_grace: float,
    max_tasks_per_child: int | None,
    max_memory_per_child: int | None,
    async_concurrency: int | None,
    **monitoring: Any,
) -> None:
    """Run a worker for the tasks of MODULE:APP until SIGTERM/SIGINT.

    Every option can also be set as TASKQ_WORKER_<OPTION> (TASKQ_WORKER_CONCURRENCY=16);
    the flag wins over the variable.
    """
    heartbeat_interval = heartbeat_for(visibility_timeout, heartbeat_interval)
    monitored = WorkerMonitoring(**monitoring)
    with one_line_errors(), flag_names(click.get_current_context()):
        monitored.check()
        app = load_app(app_spec)
        if broker:
            rebind(app, broker)
        # Built before connecting, so a bad setting is the only line printed.
        consumer = Worker(
            app,
            name=name,
            queues=[q for q in queues.split(",") if q] if queues else None,
            queue_order=queue_order,
            concurrency=concurrency,
            pool=pool,
            prefetch=prefetch,
            visibility_timeout=visibility_timeout,
            heartbeat_interval=heartbeat_interval,
            connect_timeout=connect_timeout,
            scheduler=scheduler,
            shutdown_grace=shutdown_grace,
            max_tasks_per_child=max_tasks_per_child,
            max_memory_per_child=max_memory_per_child,
            async_concurrency=async_concurrency,
        )
        monitored.configure_logging(loglevel)
        logging.getLogger(BANNER_LOGGER).setLevel(logging.INFO)
        # The broker's class, without connecting: the worker waits for an unreachable broker.
        url = app.reveal_broker_url()
        backend = app.broker if url is None else connect(url)
        if not backend.cross_process:
            click.echo(
                f"note: {type(backend).__name__} is in-process; only producers in this "
                "process reach it (use redis:// to share work between processes)",
                err=True,
            )
        if processes > 1:
            raise SystemExit(supervise(click.get_current_context(), processes))
        with monitored.serving(consumer):
            freeze_startup_heap()
            try:
                consumer.run()
            except BrokerWaitExpired as exc:
                raise BrokerWaitExpiredExit(str(exc)) from None
            except ConfigurationError as exc:
                raise ConfigurationErrorExit(str(exc)) from None


def freeze_startup_heap() -> None:
    """Keep what the worker process built at start out of the garbage collector's walks.

    A started worker holds tens of thousands of tracked objects (pydantic, redis-py, click,
    the app and its modules) that live as long as the process, and every full collection walks
    all of them while the tasks wait for the GIL. ``gc.freeze()`` moves them to a generation
    the collector skips, as Gunicorn's preloading workers and Instagram's do; start-up garbage
    is collected first. With 1,000 ``asyncio.sleep(0.05)`` tasks at once, a ``taskq worker``
    went from about 70 % to 81-86 % of the ideal rate (``bench/run.py --body asleep50``).
    """
    gc.collect()
    gc.freeze()


class BrokerWaitExpiredExit(click.ClickException):
    """``--connect-timeout`` passed without a broker: one line, its own exit status."""

    exit_code = BROKER_WAIT_EXPIRED_STATUS


class ConfigurationErrorExit(click.ClickException):
    """The worker's start met a configuration that cannot work: one line, its own status."""

    exit_code = CONFIGURATION_ERROR_STATUS

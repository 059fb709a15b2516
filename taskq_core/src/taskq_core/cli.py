"""The ``taskq`` command: a thin layer over the public API.

A user's mistake (bad URL, unreachable broker, wrong ``MODULE:APP``) prints one line and exits
with status 1; only a bug in taskq itself shows a traceback.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from taskq_core.app import BROKER_URL_ENV, Taskq, import_app
from taskq_core.backends import connect, installed_schemes
from taskq_core.broker import BaseBroker
from taskq_core.control import revoke as revoke_task
from taskq_core.dead_letters import dead_detail, find_dead, most_recent_dead
from taskq_core.errors import TaskqError
from taskq_core.monitoring.options import WorkerMonitoring, monitoring_options
from taskq_core.periodic.schedule import fires
from taskq_core.schemas import check_queue_name
from taskq_core.terminal import busy, requeue_dead, show_dead_list, show_status
from taskq_core.worker import POOLS, Worker
from taskq_core.worker.banner import BANNER_LOGGER
from taskq_core.worker.options import (
    WORKER_ENV_PREFIX,
    async_options,
    recycling_options,
    show_envvars,
)
from taskq_core.worker.queues import QUEUE_ORDERS

F = TypeVar("F", bound=Callable[..., Any])

#: Heartbeat interval of ``taskq worker`` when the lease is long enough for it, in seconds.
DEFAULT_HEARTBEAT_SECONDS = 5.0
#: Heartbeats older than this many seconds do not count as alive in ``taskq status``.
STATUS_ALIVE_WITHIN = 60.0


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Turn taskq's own errors into ``click`` errors: one line, exit status 1."""
    try:
        yield
    except TaskqError as exc:
        raise click.ClickException(str(exc)) from None


def load_app(spec: str) -> Taskq:
    """Import ``module:attribute``; a mistake is one line (``ConfigurationError``)."""
    with one_line_errors():
        return import_app(spec)


def resolve_broker(url: str | None, app_spec: str | None) -> BaseBroker:
    """The broker of ``--broker``, else of ``-A``'s app, else ``$TASKQ_BROKER_URL``."""
    if url is None and app_spec is not None:
        return load_app(app_spec).broker
    url = url or os.environ.get(BROKER_URL_ENV)
    if not url:
        raise click.ClickException(f"give --broker URL, -A MODULE:APP or set ${BROKER_URL_ENV}")
    broker = connect(url)
    broker.connect()
    return broker


def broker_options(command: F) -> F:
    """``--broker`` and ``-A`` for admin commands."""
    command = click.option(
        "-A", "--app", "app_spec", metavar="MODULE:APP", help="App to read the broker from."
    )(command)
    return click.option("--broker", metavar="URL", help=f"Broker URL (default ${BROKER_URL_ENV}).")(
        command
    )


def _positive_seconds(
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


def _queue_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Refuse an invalid queue name in one line instead of reporting "0 purged"."""
    try:
        return check_queue_name(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="taskq-core", prog_name="taskq")
def main() -> None:
    """taskq: a distributed task queue for Python.

    The broker URL defaults to $TASKQ_BROKER_URL. Every `taskq worker` option can also be
    set as TASKQ_WORKER_<OPTION>, e.g. TASKQ_WORKER_CONCURRENCY=16 (see taskq worker --help).
    """


@show_envvars
@main.command(context_settings={"auto_envvar_prefix": WORKER_ENV_PREFIX, "show_default": True})
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
@click.option("-c", "--concurrency", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--pool", type=click.Choice(POOLS), default="threads", show_default=True)
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
    callback=_positive_seconds,
    help="Lease seconds.",
)
@click.option(
    "--heartbeat-interval",
    type=float,
    callback=_positive_seconds,
    help="Seconds between heartbeats (default: 5, or a quarter of a shorter lease).",
)
@click.option(
    "--connect-timeout",
    type=click.FloatRange(min=0),
    help="Seconds to keep retrying an unreachable broker at start (default: until it answers).",
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
            _rebind(app, broker)
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
        if not backend.capabilities.cross_process:
            click.echo(
                f"note: {type(backend).__name__} is in-process; only producers in this "
                "process reach it (use redis:// to share work between processes)",
                err=True,
            )
        with monitored.serving(consumer):
            consumer.run()


def _rebind(app: Taskq, url: str) -> None:
    """Point an imported app at another broker URL (``--broker``), keeping its tasks."""
    app.close()
    app.use_broker(url)


@main.command()
@broker_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(broker: str | None, app_spec: str | None, as_json: bool) -> None:
    """Per-queue counts and alive workers."""
    with one_line_errors():
        backend = resolve_broker(broker, app_spec)
        counts = [backend.counts(queue) for queue in backend.queues()]
        paused = {c.queue for c in counts if backend.paused(c.queue)}
        workers = backend.list_alive_workers(within=STATUS_ALIVE_WITHIN)
        now = backend.now()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "queues": [{**c.model_dump(), "paused": c.queue in paused} for c in counts],
                    "workers": [w.model_dump() for w in workers],
                },
                indent=2,
            )
        )
        return
    show_status(counts, workers, now, STATUS_ALIVE_WITHIN, paused=paused)


@main.group()
def queue() -> None:
    """Pause or resume a queue: workers stop or restart taking its messages."""


@queue.command("pause")
@broker_options
@click.argument("name", callback=_queue_name)
def queue_pause(broker: str | None, app_spec: str | None, name: str) -> None:
    """Stop every worker taking messages of queue NAME (producers can still send)."""
    with one_line_errors():
        changed = resolve_broker(broker, app_spec).pause(name)
    click.echo(f"paused queue {name!r}" if changed else f"queue {name!r} was already paused")


@queue.command("resume")
@broker_options
@click.argument("name", callback=_queue_name)
def queue_resume(broker: str | None, app_spec: str | None, name: str) -> None:
    """Let workers take messages of queue NAME again; waiting workers start at once."""
    with one_line_errors():
        changed = resolve_broker(broker, app_spec).resume(name)
    click.echo(f"resumed queue {name!r}" if changed else f"queue {name!r} was not paused")


@main.group()
def dead() -> None:
    """Inspect, requeue or purge DEAD messages."""


def _optional_queue_name(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> str | None:
    return None if value is None else _queue_name(ctx, param, value)


@dead.command("list")
@broker_options
@click.option(
    "--queue", "-q", callback=_optional_queue_name, help="Only this queue (default: every queue)."
)
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def dead_list(
    broker: str | None, app_spec: str | None, queue: str | None, limit: int, as_json: bool
) -> None:
    """List DEAD messages, newest first, with when and why.

    Every queue unless -q names one; per message the whole id, queue, task, when it died,
    its arguments and the first line of its reason.
    """
    with one_line_errors():
        backend = resolve_broker(broker, app_spec)
        letters = most_recent_dead(backend, [queue] if queue else backend.queues(), limit)
    if as_json:
        click.echo(json.dumps([letter.model_dump() for letter in letters], indent=2))
        return
    show_dead_list(letters, f"queue {queue!r}" if queue else "every queue")


@dead.command("show")
@broker_options
@click.argument("message_id", metavar="ID")
@click.option(
    "--queue", "-q", callback=_optional_queue_name, help="Look only here (default: every queue)."
)
@click.option("--json", "as_json", is_flag=True)
def dead_show(
    broker: str | None, app_spec: str | None, message_id: str, queue: str | None, as_json: bool
) -> None:
    """Show one DEAD message in full, traceback included.

    Its arguments, counters, when it died, and the whole reason with the traceback.
    """
    with one_line_errors():
        backend = resolve_broker(broker, app_spec)
        queues = [queue] if queue else backend.queues()
        letter = find_dead(backend, message_id, queues)
    if letter is None:
        where = f"queue {queue!r}" if queue else "any queue"
        raise click.ClickException(f"no DEAD message with id {message_id!r} in {where}")
    click.echo(json.dumps(letter.model_dump(), indent=2) if as_json else dead_detail(letter))


@dead.command("requeue")
@broker_options
@click.option("--queue", "-q", default="default", show_default=True, callback=_queue_name)
@click.option("--id", "ids", multiple=True, help="Only these message ids (repeatable).")
@click.option("--json", "as_json", is_flag=True)
def dead_requeue(
    broker: str | None, app_spec: str | None, queue: str, ids: tuple[str, ...], as_json: bool
) -> None:
    """Move DEAD messages back to READY with fresh retry counters."""
    with one_line_errors():
        moved = requeue_dead(resolve_broker(broker, app_spec), queue, ids, progress=not as_json)
    click.echo(json.dumps({"requeued": moved}) if as_json else f"requeued {moved} message(s)")


@dead.command("purge")
@broker_options
@click.option("--queue", "-q", default="default", show_default=True, callback=_queue_name)
@click.option("--json", "as_json", is_flag=True)
def dead_purge(broker: str | None, app_spec: str | None, queue: str, as_json: bool) -> None:
    """Delete every DEAD message of a queue."""
    with one_line_errors():
        backend = resolve_broker(broker, app_spec)
        removed = busy(
            f"purging DEAD of {queue}", lambda: backend.purge_dead(queue), progress=not as_json
        )
    click.echo(json.dumps({"purged": removed}) if as_json else f"purged {removed} dead message(s)")


@main.group()
def periodic() -> None:
    """Inspect the app's periodic schedules."""


@periodic.command("list")
@click.option("-A", "--app", "app_spec", required=True, metavar="MODULE:APP")
@click.option("--broker", metavar="URL", help="Override the app's broker URL.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def periodic_list(app_spec: str, broker: str | None, as_json: bool) -> None:
    """Each schedule with its next fire and its last fire (from the broker)."""
    with one_line_errors():
        app = load_app(app_spec)
        if broker:
            _rebind(app, broker)
        now = app.clock.now()
        rows = [fires(p, now) for p in app.periodic_schedules.values()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="periodic schedules (times in UTC)")
    for column in ("key", "schedule", "queue", "next fire", "last fire"):
        table.add_column(column, no_wrap=column.endswith("fire"))
    for row in rows:
        next_fire, last_fire = (_when(row[field]) for field in ("next_fire", "last_fire"))
        table.add_row(row["key"], row["schedule"], row["queue"], next_fire, last_fire)
    Console().print(table)


def _when(iso: str | None) -> str:
    """An ISO 8601 UTC time as ``2026-01-31 09:00:00``, or ``-`` for none."""
    return "-" if iso is None else iso[:19].replace("T", " ")


@main.command()
@broker_options
@click.option("--queue", "-q", required=True, callback=_queue_name)
@click.option("--json", "as_json", is_flag=True)
def purge(broker: str | None, app_spec: str | None, queue: str, as_json: bool) -> None:
    """Delete READY and SCHEDULED messages of a queue (running ones are left alone)."""
    with one_line_errors():
        backend = resolve_broker(broker, app_spec)
        removed = busy(f"purging {queue}", lambda: backend.purge(queue), progress=not as_json)
    click.echo(json.dumps({"purged": removed}) if as_json else f"purged {removed} message(s)")


@main.command()
@broker_options
@click.argument("message_id", metavar="ID")
@click.option("--queue", "-q", callback=_optional_queue_name, help="Its queue (default: any).")
@click.option("--terminate", is_flag=True, help="Also stop it if it is running.")
@click.option("--json", "as_json", is_flag=True)
def revoke(
    broker: str | None,
    app_spec: str | None,
    message_id: str,
    queue: str | None,
    terminate: bool,
    as_json: bool,
) -> None:
    """Revoke a task: it will not run; with --terminate a running one is stopped."""
    with one_line_errors():
        outcome = revoke_task(
            resolve_broker(broker, app_spec), message_id, queue=queue, terminate=terminate
        )
    if as_json:
        click.echo(json.dumps({"id": message_id, "outcome": outcome}))
    elif outcome == "absent":
        raise click.ClickException(
            f"no queued or running message {message_id} found"
            + (f" in queue {queue!r}" if queue else "")
            + " (it finished, is DEAD, or was never sent)"
        )
    else:
        key = "terminating" if terminate and outcome == "running" else outcome
        click.echo(f"{message_id}: {REVOKE_OUTCOMES[key]}")


#: What ``taskq revoke`` prints for each outcome of ``BaseBroker.revoke``.
REVOKE_OUTCOMES = {
    "revoked": "revoked; it will not run (result REVOKED)",
    "running": "running; it is left to finish, and will not run again",
    "terminating": "running; its worker was told to stop it (result REVOKED)",
}


#: Environment variables the dashboard's secrets may come from (so they stay out of ``ps``).
DASHBOARD_TOKEN_ENV = "TASKQ_DASHBOARD_TOKEN"
DASHBOARD_BASIC_AUTH_ENV = "TASKQ_DASHBOARD_BASIC_AUTH"


@main.command()
@broker_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=5555, show_default=True)
@click.option(
    "--auth-token",
    envvar=DASHBOARD_TOKEN_ENV,
    show_envvar=True,
    help="Bearer token every request must present (a browser: open /?token=... once).",
)
@click.option(
    "--basic-auth",
    metavar="USER:PASSWORD",
    envvar=DASHBOARD_BASIC_AUTH_ENV,
    show_envvar=True,
    help="HTTP basic-auth credentials every request must present.",
)
def dashboard(
    broker: str | None,
    app_spec: str | None,
    host: str,
    port: int,
    auth_token: str | None,
    basic_auth: str | None,
) -> None:
    """Serve the web dashboard (needs the extra: pip install 'taskq-core[dashboard]').

    Listens on 127.0.0.1 unless --host is given; any other address needs --auth-token or
    --basic-auth.
    """
    try:
        from taskq_core.dashboard import Credentials, check_bind, serve
    except ModuleNotFoundError as exc:
        raise click.ClickException(
            f"taskq dashboard needs {exc.name}: pip install 'taskq-core[dashboard]'"
        ) from None
    with one_line_errors():
        credentials = Credentials.parse(auth_token, basic_auth)
        check_bind(host, credentials)
        # With -A the app's periodic schedules are shown too (they live in its code).
        app = load_app(app_spec) if app_spec else None
        if app is not None and broker:
            _rebind(app, broker)
        backend = app.broker if app is not None else resolve_broker(broker, None)
        periodic = None if app is None else list(app.periodic_schedules.values())
        if not backend.capabilities.cross_process:
            click.echo(
                f"note: {type(backend).__name__} is in-process; the dashboard shows only what "
                "this process sends to it",
                err=True,
            )
        serve(backend, host=host, port=port, credentials=credentials, periodic=periodic)


@main.command()
@click.option("--broker", default="memory://", show_default=True, metavar="URL")
@click.option("--tasks", "count", type=click.IntRange(min=10), default=200, show_default=True)
def demo(broker: str, count: int) -> None:
    """Producer and worker in one process: watch tasks succeed, retry and die."""
    from taskq_core.demo import run_demo

    logging.basicConfig(level=logging.CRITICAL)
    with one_line_errors():
        if broker.lower().startswith("memory:") and "memory" not in installed_schemes():
            raise click.ClickException(
                "the demo runs on memory://, whose backend is not installed: "
                "pip install taskq-memory, or run it on Redis: taskq demo --broker redis://HOST/0"
            )
        run_demo(broker, tasks=count)

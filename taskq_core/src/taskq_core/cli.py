"""The ``taskq`` command: a thin layer over the public API.

A user's mistake (bad URL, unreachable broker, wrong ``MODULE:APP``) prints one line and exits
with status 1; only a bug in taskq itself shows a traceback.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from taskq_core.app import BROKER_URL_ENV, Taskq, import_app
from taskq_core.backends import connect
from taskq_core.broker import BaseBroker
from taskq_core.errors import TaskqError
from taskq_core.schemas import check_queue_name
from taskq_core.worker import POOLS, Worker

F = TypeVar("F", bound=Callable[..., Any])

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


def _queue_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Refuse an invalid queue name in one line instead of reporting "0 purged"."""
    try:
        return check_queue_name(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="taskq-core", prog_name="taskq")
def main() -> None:
    """taskq: a distributed task queue for Python."""


@main.command()
@click.argument("app_spec", metavar="MODULE:APP")
@click.option("--broker", metavar="URL", help="Override the app's broker URL.")
@click.option(
    "-Q", "--queues", help="Comma-separated queues in priority order (default: all of the app's)."
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
    "--visibility-timeout", type=float, default=30.0, show_default=True, help="Lease seconds."
)
@click.option("--heartbeat-interval", type=float, default=5.0, show_default=True)
@click.option("--loglevel", default="INFO", show_default=True)
def worker(
    app_spec: str,
    broker: str | None,
    queues: str | None,
    concurrency: int,
    pool: str,
    prefetch: int | None,
    name: str | None,
    visibility_timeout: float,
    heartbeat_interval: float,
    loglevel: str,
) -> None:
    """Run a worker for the tasks of MODULE:APP until SIGTERM/SIGINT."""
    logging.basicConfig(
        level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    with one_line_errors():
        app = load_app(app_spec)
        if broker:
            _rebind(app, broker)
        # Built before connecting, so a bad setting is the only line printed.
        consumer = Worker(
            app,
            name=name,
            queues=[q for q in queues.split(",") if q] if queues else None,
            concurrency=concurrency,
            pool=pool,
            prefetch=prefetch,
            visibility_timeout=visibility_timeout,
            heartbeat_interval=heartbeat_interval,
        )
        if not app.broker.capabilities.cross_process:  # also connects: a bad URL fails here
            click.echo(
                f"note: {type(app.broker).__name__} is in-process; only producers in this "
                "process reach it (use redis:// to share work between processes)",
                err=True,
            )
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
        workers = backend.list_alive_workers(within=STATUS_ALIVE_WITHIN)
        now = backend.now()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "queues": [c.model_dump() for c in counts],
                    "workers": [w.model_dump() for w in workers],
                },
                indent=2,
            )
        )
        return
    console = Console()
    table = Table(title="queues")
    for column in ("queue", "ready", "scheduled", "processing", "dead"):
        table.add_column(column, justify="left" if column == "queue" else "right")
    for c in counts:
        table.add_row(c.queue, str(c.ready), str(c.scheduled), str(c.processing), str(c.dead))
    console.print(table)
    alive = Table(title=f"alive workers (heartbeat within {STATUS_ALIVE_WITHIN:.0f} s)")
    for column in ("worker", "queues", "pool", "concurrency", "last seen"):
        alive.add_column(column)
    for w in workers:
        ago = f"{max(0.0, now - w.last_seen):.1f} s ago"
        alive.add_row(w.worker_id, ",".join(w.queues), w.pool, str(w.concurrency), ago)
    console.print(alive)


@main.group()
def dead() -> None:
    """Inspect, requeue or purge DEAD messages."""


@dead.command("list")
@broker_options
@click.option("--queue", "-q", default="default", show_default=True, callback=_queue_name)
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def dead_list(
    broker: str | None, app_spec: str | None, queue: str, limit: int, as_json: bool
) -> None:
    """List DEAD messages of a queue, most recent first, with reasons."""
    with one_line_errors():
        letters = resolve_broker(broker, app_spec).list_dead(queue, limit=limit)
    if as_json:
        click.echo(json.dumps([letter.model_dump() for letter in letters], indent=2))
        return
    table = Table(title=f"DEAD in {queue}")
    for column in ("id", "task", "reason"):
        table.add_column(column)
    for letter in letters:
        task = letter.message.task if letter.message else "(undecodable)"
        table.add_row(letter.id, task, letter.reason.split("\n", 1)[0])
    Console().print(table)


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
        moved = resolve_broker(broker, app_spec).requeue_dead(queue, list(ids) or None)
    click.echo(json.dumps({"requeued": moved}) if as_json else f"requeued {moved} message(s)")


@dead.command("purge")
@broker_options
@click.option("--queue", "-q", default="default", show_default=True, callback=_queue_name)
@click.option("--json", "as_json", is_flag=True)
def dead_purge(broker: str | None, app_spec: str | None, queue: str, as_json: bool) -> None:
    """Delete every DEAD message of a queue."""
    with one_line_errors():
        removed = resolve_broker(broker, app_spec).purge_dead(queue)
    click.echo(json.dumps({"purged": removed}) if as_json else f"purged {removed} dead message(s)")


@main.command()
@broker_options
@click.option("--queue", "-q", required=True, callback=_queue_name)
@click.option("--json", "as_json", is_flag=True)
def purge(broker: str | None, app_spec: str | None, queue: str, as_json: bool) -> None:
    """Delete READY and SCHEDULED messages of a queue (running ones are left alone)."""
    with one_line_errors():
        removed = resolve_broker(broker, app_spec).purge(queue)
    click.echo(json.dumps({"purged": removed}) if as_json else f"purged {removed} message(s)")


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
        backend = resolve_broker(broker, app_spec)
        if not backend.capabilities.cross_process:
            click.echo(
                f"note: {type(backend).__name__} is in-process; the dashboard shows only what "
                "this process sends to it",
                err=True,
            )
        serve(backend, host=host, port=port, credentials=credentials)


@main.command()
@click.option("--broker", default="memory://", show_default=True, metavar="URL")
@click.option("--tasks", "count", type=click.IntRange(min=10), default=200, show_default=True)
def demo(broker: str, count: int) -> None:
    """Producer and worker in one process: watch tasks succeed, retry and die."""
    from taskq_core.demo import run_demo

    logging.basicConfig(level=logging.CRITICAL)
    with one_line_errors():
        run_demo(broker, tasks=count)

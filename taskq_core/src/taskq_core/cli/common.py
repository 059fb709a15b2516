"""What every ``taskq`` command shares: one-line errors, the app and broker options.

A user's mistake (bad URL, unreachable broker, wrong ``MODULE:APP``) prints one line and exits
with status 1; only a bug in taskq itself shows a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from taskq_core.app import BROKER_URL_ENV, Taskq, import_app
from taskq_core.backends import connect
from taskq_core.broker import BaseBroker
from taskq_core.errors import TaskqError
from taskq_core.schemas import check_queue_name

F = TypeVar("F", bound=Callable[..., Any])


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


def json_option(command: F) -> F:
    """``--json``: the command prints machine-readable JSON instead of a table."""
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable output (JSON).")(
        command
    )


def broker_options(command: F) -> F:
    """``--broker`` and ``-A`` for admin commands."""
    command = click.option(
        "-A", "--app", "app_spec", metavar="MODULE:APP", help="App to read the broker from."
    )(command)
    return click.option("--broker", metavar="URL", help=f"Broker URL (default ${BROKER_URL_ENV}).")(
        command
    )


def rebind(app: Taskq, url: str) -> None:
    """Point an imported app at another broker URL (``--broker``), keeping its tasks."""
    app.close()
    app.use_broker(url)


def queue_name_arg(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """A click callback: refuse an invalid queue name in one line, not "0 purged"."""
    try:
        return check_queue_name(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def optional_queue_name(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> str | None:
    """:func:`queue_name_arg` for an option that may be left out."""
    return None if value is None else queue_name_arg(ctx, param, value)

"""``taskq periodic list``: an app's periodic schedules, with their next and last fires."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from taskq_core.cli.common import json_option, load_app, one_line_errors, rebind
from taskq_core.periodic.schedule import fires


@click.group()
def periodic() -> None:
    """Inspect the app's periodic schedules."""


@periodic.command("list")
@click.option(
    "-A",
    "--app",
    "app_spec",
    required=True,
    metavar="MODULE:APP",
    help="App whose schedules to list.",
)
@click.option("--broker", metavar="URL", help="Override the app's broker URL.")
@json_option
def periodic_list(app_spec: str, broker: str | None, as_json: bool) -> None:
    """Each schedule with its next fire and its last fire (from the broker)."""
    with one_line_errors():
        app = load_app(app_spec)
        if broker:
            rebind(app, broker)
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

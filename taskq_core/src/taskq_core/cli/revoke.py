"""``taskq revoke``: a task will not run; with ``--terminate`` a running one is stopped."""

from __future__ import annotations

import json

import click

from taskq_core.cli.common import (
    broker_options,
    json_option,
    one_line_errors,
    optional_queue_name,
    resolve_broker,
)
from taskq_core.control import revoke as revoke_task


@click.command()
@broker_options
@click.argument("message_id", metavar="ID")
@click.option("--queue", "-q", callback=optional_queue_name, help="Its queue (default: any).")
@click.option("--terminate", is_flag=True, help="Also stop it if it is running.")
@json_option
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


#: What ``taskq revoke`` prints for each outcome of ``Revocation.revoke``.
REVOKE_OUTCOMES = {
    "revoked": "revoked; it will not run (result REVOKED)",
    "running": "running; it is left to finish, and will not run again",
    "terminating": "running; its worker was told to stop it (result REVOKED)",
}

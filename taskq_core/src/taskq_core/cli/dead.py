"""``taskq dead list|show|requeue|purge``: inspect and empty a queue's DEAD messages."""

from __future__ import annotations

import json
from collections.abc import Callable

import click

from taskq_core.cli.common import (
    F,
    broker_options,
    json_option,
    one_line_errors,
    optional_queue_name,
    queue_name_arg,
    resolve_broker,
)
from taskq_core.dead_letters import dead_detail, find_dead, most_recent_dead
from taskq_core.terminal import busy, requeue_dead, show_dead_list


def _one_queue(help_text: str) -> Callable[[F], F]:
    """``--queue``/``-q`` of a command that acts on the DEAD messages of one queue."""
    return click.option(
        "--queue",
        "-q",
        default="default",
        show_default=True,
        callback=queue_name_arg,
        help=help_text,
    )


@click.group()
def dead() -> None:
    """Inspect, requeue or purge DEAD messages."""


@dead.command("list")
@broker_options
@click.option(
    "--queue", "-q", callback=optional_queue_name, help="Only this queue (default: every queue)."
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="Most messages listed, most recent deaths first.",
)
@json_option
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
    "--queue", "-q", callback=optional_queue_name, help="Look only here (default: every queue)."
)
@json_option
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
@_one_queue("Queue whose DEAD messages go back to READY.")
@click.option("--id", "ids", multiple=True, help="Only these message ids (repeatable).")
@json_option
def dead_requeue(
    broker: str | None, app_spec: str | None, queue: str, ids: tuple[str, ...], as_json: bool
) -> None:
    """Move DEAD messages back to READY with fresh retry counters."""
    with one_line_errors():
        moved = requeue_dead(resolve_broker(broker, app_spec), queue, ids, progress=not as_json)
    click.echo(json.dumps({"requeued": moved}) if as_json else f"requeued {moved} message(s)")


@dead.command("purge")
@broker_options
@_one_queue("Queue whose DEAD messages are deleted.")
@json_option
def dead_purge(broker: str | None, app_spec: str | None, queue: str, as_json: bool) -> None:
    """Delete every DEAD message of a queue."""
    with one_line_errors():
        backend = resolve_broker(broker, app_spec)
        removed = busy(
            f"purging DEAD of {queue}", lambda: backend.purge_dead(queue), progress=not as_json
        )
    click.echo(json.dumps({"purged": removed}) if as_json else f"purged {removed} dead message(s)")

"""``taskq status``, ``taskq queue pause|resume`` and ``taskq purge``: a broker's queues."""

from __future__ import annotations

import json

import click

from taskq_core.capabilities import QueueControl, WorkerRegistry
from taskq_core.cli.common import (
    broker_options,
    json_option,
    one_line_errors,
    queue_name_arg,
    resolve_broker,
)
from taskq_core.terminal import busy, show_status

#: Heartbeats older than this many seconds do not count as alive in ``taskq status``.
STATUS_ALIVE_WITHIN = 60.0


@click.command()
@broker_options
@json_option
def status(broker: str | None, app_spec: str | None, as_json: bool) -> None:
    """Per-queue counts and alive workers."""
    with one_line_errors():
        backend = resolve_broker(broker, app_spec)
        counts = [backend.counts(queue) for queue in backend.queues()]
        paused = set()
        if isinstance(backend, QueueControl):
            paused = {c.queue for c in counts if backend.paused(c.queue)}
        workers = None  # None: the backend keeps no list of workers to read
        if isinstance(backend, WorkerRegistry):
            workers = backend.list_alive_workers(within=STATUS_ALIVE_WITHIN)
        now = backend.now()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "queues": [{**c.model_dump(), "paused": c.queue in paused} for c in counts],
                    "workers": [w.model_dump() for w in workers or ()],
                },
                indent=2,
            )
        )
        return
    if workers is None:
        show_status(counts, None, now, STATUS_ALIVE_WITHIN, paused=paused)
        click.echo(f"\nworkers: not listed (the {backend.scheme} backend keeps no worker registry)")
        return
    show_status(counts, workers, now, STATUS_ALIVE_WITHIN, paused=paused)


@click.group()
def queue() -> None:
    """Pause or resume a queue: workers stop or restart taking its messages."""


@queue.command("pause")
@broker_options
@click.argument("name", callback=queue_name_arg)
def queue_pause(broker: str | None, app_spec: str | None, name: str) -> None:
    """Stop every worker taking messages of queue NAME (producers can still send)."""
    with one_line_errors():
        queues = QueueControl.require(resolve_broker(broker, app_spec), "taskq queue pause")
        changed = queues.pause(name)
    click.echo(f"paused queue {name!r}" if changed else f"queue {name!r} was already paused")


@queue.command("resume")
@broker_options
@click.argument("name", callback=queue_name_arg)
def queue_resume(broker: str | None, app_spec: str | None, name: str) -> None:
    """Let workers take messages of queue NAME again; waiting workers start at once."""
    with one_line_errors():
        queues = QueueControl.require(resolve_broker(broker, app_spec), "taskq queue resume")
        changed = queues.resume(name)
    click.echo(f"resumed queue {name!r}" if changed else f"queue {name!r} was not paused")


@click.command()
@broker_options
@click.option(
    "--queue", "-q", required=True, callback=queue_name_arg, help="Queue to empty of waiting work."
)
@json_option
def purge(broker: str | None, app_spec: str | None, queue: str, as_json: bool) -> None:
    """Delete READY and SCHEDULED messages of a queue (running ones are left alone)."""
    with one_line_errors():
        backend = resolve_broker(broker, app_spec)
        removed = busy(f"purging {queue}", lambda: backend.purge(queue), progress=not as_json)
    click.echo(json.dumps({"purged": removed}) if as_json else f"purged {removed} message(s)")

"""``taskq demo``: a producer and a worker in one process, to watch tasks run."""

from __future__ import annotations

import logging

import click

from taskq_core.cli.common import one_line_errors
from taskq_core.errors import UnknownBackend


@click.command()
@click.option(
    "--broker",
    default="memory://",
    show_default=True,
    metavar="URL",
    help="Broker to run the demo on (redis://... to watch it in Redis).",
)
@click.option(
    "--tasks",
    "count",
    type=click.IntRange(min=10),
    default=200,
    show_default=True,
    help="Tasks the demo sends.",
)
def demo(broker: str, count: int) -> None:
    """Producer and worker in one process: watch tasks succeed, retry and die."""
    from taskq_core.demo import run_demo

    logging.basicConfig(level=logging.CRITICAL)
    with one_line_errors():
        try:
            run_demo(broker, tasks=count)
        except UnknownBackend:
            if not broker.lower().startswith("memory:"):
                raise
            raise click.ClickException(
                "the demo runs on memory://, whose backend is not installed: "
                "pip install taskq-memory, or run it on Redis: taskq demo --broker redis://HOST/0"
            ) from None

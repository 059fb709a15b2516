"""What the admin commands print: rich tables and progress on a terminal, plain lines otherwise.

Plain output (a pipe, a file, ``grep``) keeps one record per line in fixed columns, so scripts
can read it; ``--json`` is the format for programs. Rich decides what a terminal is, so
``FORCE_COLOR``, ``TTY_COMPATIBLE``, ``NO_COLOR`` and ``COLUMNS`` behave as in other rich tools.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from taskq_core.dead_letters import ARGS_WIDTH, call_text, dead_summary, utc_text

if TYPE_CHECKING:
    from taskq_core.broker import BaseBroker
    from taskq_core.schemas import DeadLetter, QueueCounts, WorkerInfo

#: Messages requeued per broker call when ``taskq dead requeue`` shows its progress.
REQUEUE_CHUNK = 1000
#: The per-queue counters ``taskq status`` shows, in order.
COUNT_COLUMNS = ("ready", "scheduled", "processing", "dead", "expired", "revoked")


def terminal(*, stderr: bool = False) -> Console | None:
    """A console on standard output (or error) if it is a terminal, else ``None`` (plain text).

    Progress goes to standard error, so it never mixes with what a command prints as its answer.
    """
    console = Console(stderr=stderr)
    return console if console.is_terminal else None


def plain_columns(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces, one line per row, no trailing spaces."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    )


def show_status(
    counts: Sequence[QueueCounts],
    workers: Sequence[WorkerInfo] | None,
    now: float,
    within: float,
    *,
    paused: Collection[str] = (),
) -> None:
    """``taskq status``: a table of queues (with ``paused`` ones marked) and one of workers.

    ``workers`` is ``None`` for a backend that keeps no list of workers: only the queues show.
    """
    queue_rows = [
        [
            c.queue,
            *(str(getattr(c, name)) for name in COUNT_COLUMNS),
            "paused" if c.queue in paused else "running",
        ]
        for c in counts
    ]
    worker_header = ["worker", "queues", "pool", "concurrency", "last seen"]
    worker_rows = [
        [
            w.worker_id,
            ",".join(w.queues) or "-",
            w.pool,
            str(w.concurrency),
            f"{max(0.0, now - w.last_seen):.1f}s ago",
        ]
        for w in workers or ()
    ]
    alive_title = f"alive workers (heartbeat within {within:.0f} s)"
    console = terminal()
    if console is None:
        click.echo(plain_columns(["queue", *COUNT_COLUMNS, "state"], queue_rows))
        if workers is None:
            return
        click.echo(f"\n{alive_title}: {len(worker_rows)}")
        if worker_rows:
            click.echo(plain_columns(worker_header, worker_rows))
        return
    # Eight columns do not fit 80: on a terminal a paused queue is marked in its name instead.
    table = Table(title="queues")
    table.add_column("queue")
    for name in COUNT_COLUMNS:
        table.add_column(name, justify="right")
    for name, *numbers, state in queue_rows:
        table.add_row(f"{name} (paused)" if state == "paused" else name, *numbers)
    console.print(table)
    if workers is None:
        return
    alive = Table(title=alive_title)
    for name in worker_header:
        alive.add_column(name, justify="right" if name == "concurrency" else "left")
    for row in worker_rows:
        alive.add_row(*row)
    console.print(alive)


def show_dead_list(letters: Sequence[DeadLetter], where: str) -> None:
    """``taskq dead list``: a table on a terminal, three greppable lines per message otherwise."""
    console = terminal()
    title = f"{len(letters)} DEAD message(s) in {where}, most recent first"
    if console is None or not letters:
        click.echo(title)
        if letters:
            click.echo(dead_summary(letters))
    else:
        # Two lines per message: a whole id and a timestamp take 58 columns on their own, so
        # each sits above the other and the arguments and reason get the rest of the width.
        table = Table(title=title, show_lines=True)
        table.add_column("id / died (UTC)", no_wrap=True)
        table.add_column("queue / task", overflow="fold")
        table.add_column("args / reason", overflow="fold", ratio=1)
        for letter in letters:
            call = call_text(letter)
            if len(call) > ARGS_WIDTH:
                call = call[: ARGS_WIDTH - 1] + "…"
            task = letter.message.task if letter.message else "(undecodable)"
            table.add_row(
                f"{letter.id}\n{utc_text(letter.died_at).removesuffix(' UTC')}",
                f"{letter.queue}\n{task}",
                Text(call) + Text("\n") + Text(letter.reason.split("\n", 1)[0], style="red"),
            )
        console.print(table)
    if letters:
        click.echo("Full reason and traceback: taskq dead show ID")


def requeue_dead(
    broker: BaseBroker, queue: str, ids: Sequence[str], *, progress: bool = True
) -> int:
    """``taskq dead requeue``: one broker call, or chunks under a progress bar on a terminal.

    The bar covers the messages DEAD when the command starts (or the ids given): their ids are
    read first, so a requeued message that dies again meanwhile is not requeued a second time.
    ``progress=False`` (``--json``) always makes the one call.
    """
    console = terminal(stderr=True) if progress else None
    if console is None or (len(ids) if ids else broker.counts(queue).dead) <= REQUEUE_CHUNK:
        return broker.requeue_dead(queue, list(ids) or None)
    wanted = list(ids) or _dead_ids(broker, queue)
    moved = 0
    with _bar(console, f"requeueing DEAD of {queue}", total=len(wanted)) as advance:
        for start in range(0, len(wanted), REQUEUE_CHUNK):
            chunk = wanted[start : start + REQUEUE_CHUNK]
            moved += broker.requeue_dead(queue, chunk)
            advance(len(chunk))
    return moved


def _dead_ids(broker: BaseBroker, queue: str) -> list[str]:
    """The ids of every DEAD message of ``queue``, read a page at a time.

    A message that dies while the pages are read shifts the later ones by one, so an id can
    come twice (kept once); none is skipped.
    """
    found: dict[str, None] = {}
    offset = 0
    while page := broker.list_dead(queue, offset=offset, limit=REQUEUE_CHUNK):
        found.update(dict.fromkeys(letter.id for letter in page))
        offset += len(page)
    return list(found)


@contextmanager
def _bar(console: Console, label: str, total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar for ``total`` items; yields the function that advances it."""
    with Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        bar = progress.add_task(label, total=total)
        yield lambda done: progress.advance(bar, done)


def busy(label: str, work: Callable[[], int], *, progress: bool = True) -> int:
    """Run ``work`` (one broker call of unknown length) under a spinner on a terminal."""
    console = terminal(stderr=True) if progress else None
    if console is None:
        return work()
    with Progress(
        SpinnerColumn(),
        TextColumn(f"[bold]{label}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as spinner:
        spinner.add_task(label, total=None)
        return work()

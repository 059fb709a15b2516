"""The zero-setup demo: a producer and a worker in one process, with progress and a summary.

It exercises the paths a new user wants to see work: plain tasks, a scheduled one, a task that
fails once and succeeds on retry, a task that always fails and ends in DEAD with its traceback,
a message for a task nobody registered, which goes to DEAD with the reason, and one chord (its
callback runs once with every member's result; left out, with the reason, on a backend without
workflows such as Redis Cluster).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from taskq_core.app import Taskq
from taskq_core.canvas import chord
from taskq_core.capabilities import Workflows
from taskq_core.errors import MissingCapability, TaskqError
from taskq_core.plugins import hookimpl, plugin_manager
from taskq_core.schemas import Message
from taskq_core.worker import Worker

if TYPE_CHECKING:
    from taskq_core.schemas import Delivery

DEMO_QUEUE = "demo"
#: Seconds the demo waits for all its tasks before it reports what is missing.
DEMO_DEADLINE = 120.0
#: Members of the demo's one chord.
CHORD_MEMBERS = 5


class FlakyService(Exception):
    """The demo's stand-in for a transient failure (a timeout talking to a service)."""


@dataclass
class DemoTally:
    """Counts task events as the worker reports them through hooks."""

    events: Counter[str] = field(default_factory=Counter)
    dead_reasons: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    changed: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.changed = threading.Condition(self.lock)

    def record(self, event: str) -> None:
        """Count ``event`` and wake the progress loop."""
        with self.changed:
            self.events[event] += 1
            self.changed.notify_all()

    @hookimpl
    def taskq_task_succeeded(self, delivery: Delivery, result: object, runtime: float) -> None:
        """Count a success."""
        self.record("succeeded")

    @hookimpl
    def taskq_task_retried(self, delivery: Delivery, error: str, delay: float) -> None:
        """Count a retry."""
        self.record("retried")

    @hookimpl
    def taskq_task_dead(self, message: Message, reason: str) -> None:
        """Count a death and keep its reason's first line."""
        with self.changed:
            self.dead_reasons.append((message.task, reason.split("\n", 1)[0]))
        self.record("dead")


@dataclass
class DemoState:
    """What the demo's tasks remember between calls (they all run in this process)."""

    attempts: Counter[str] = field(default_factory=Counter)
    image_order: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def build_demo_app(broker_url: str) -> tuple[Taskq, DemoState]:
    """The demo's app and tasks, named explicitly so any process agrees on the names."""
    app = Taskq(broker_url, default_queue=DEMO_QUEUE)
    state = DemoState()

    @app.task(name="demo.add")
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="demo.total")
    def total(values: list[int]) -> int:
        """A chord's callback: runs once, with every member's result in call order."""
        return sum(values)

    @app.task(name="demo.resize_image", ignore_result=True)
    def resize_image(image_id: int, urgent: bool) -> None:
        """Records the order images start in, to show priorities at work."""
        with state.lock:
            state.image_order.append("urgent" if urgent else "batch")

    @app.task(name="demo.fetch_report", default_retry_delay=0.05, retry_jitter=False)
    def fetch_report(report_id: int) -> str:
        with state.lock:
            state.attempts[f"report-{report_id}"] += 1
            first = state.attempts[f"report-{report_id}"] == 1
        if first:
            raise FlakyService(f"report service timed out on report {report_id}")
        return f"report {report_id}"

    @app.task(name="demo.charge_card", max_retries=2, default_retry_delay=0.05)
    def charge_card(amount: int) -> None:
        raise ValueError(f"card declined for amount {amount}")

    return app, state


def run_demo(
    broker_url: str = "memory://", *, tasks: int = 200, console: Console | None = None
) -> Counter[str]:
    """Send a mix of tasks, run them on an in-process worker, print a summary; return counts."""
    console = console or Console()
    app, state = build_demo_app(broker_url)
    tally = DemoTally()
    manager = plugin_manager()
    manager.register(tally, name="taskq-demo-tally")
    add, fetch_report, charge_card, resize_image, total_of = (
        app.tasks[f"demo.{n}"]
        for n in ("add", "fetch_report", "charge_card", "resize_image", "total")
    )
    plan: list[tuple[str, int]] = []
    try:
        app.broker.purge(DEMO_QUEUE)
        worker = Worker(
            app,
            queues=[DEMO_QUEUE],
            concurrency=4,
            heartbeat_interval=1.0,
            schedule_poll_interval=0.2,
            reaper_interval=2.0,
            visibility_timeout=10.0,
            block_timeout=0.2,
        )
        started = time.perf_counter()
        # Everything is sent before the worker starts, so priorities decide what runs first.
        resize_image.delay_many([(i, False) for i in range(6)], priority=0)
        resize_image.delay_many([(i, True) for i in range(4)], priority=9)
        plan.append(("6 x demo.resize_image at priority 0, then 4 at priority 9", 10))
        adds = max(tasks - 18 - CHORD_MEMBERS - 1, 1)
        add.delay_many([(i, i) for i in range(adds)])
        plan.append((f"{adds} x demo.add, bulk-sent in one batch", adds))
        answer = add.apply_async((40, 2), countdown=0.5)
        plan.append(("1 x demo.add(40, 2) scheduled 0.5 s ahead; its result is awaited", 1))
        summed = None
        try:
            Workflows.require(app.broker, "a chord")
        except MissingCapability as exc:
            # Redis Cluster withholds workflows: the rest of the demo still runs there.
            chord_line = f"chord: not sent: {exc}"
        else:
            summed = chord([add.s(i, i) for i in range(CHORD_MEMBERS)], total_of.s()).delay()
            plan.append(
                (
                    f"1 chord: {CHORD_MEMBERS} x demo.add, then demo.total once with their results",
                    CHORD_MEMBERS + 1,
                )
            )
        for report_id in range(4):
            fetch_report.delay(report_id)
        plan.append(("4 x demo.fetch_report: fails once, then succeeds on retry", 4))
        for amount in (10, 20):
            charge_card.delay(amount)
        plan.append(("2 x demo.charge_card: always fails, dies after 2 retries", 2))
        app.send_message(Message.build(task="demo.not_registered", queue=DEMO_QUEUE))
        plan.append(("1 x demo.not_registered: no such task", 1))
        total = sum(count for _, count in plan)
        worker.start()

        with Progress(
            TextColumn("[bold]running tasks"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            bar = progress.add_task("tasks", total=total)
            deadline = time.monotonic() + DEMO_DEADLINE
            with tally.changed:
                while tally.events["succeeded"] + tally.events["dead"] < total:
                    if time.monotonic() > deadline:
                        raise TaskqError(
                            f"demo: only {tally.events['succeeded'] + tally.events['dead']} of "
                            f"{total} tasks finished within {DEMO_DEADLINE:.0f} s"
                        )
                    progress.update(bar, completed=tally.events["succeeded"] + tally.events["dead"])
                    tally.changed.wait(0.1)
            progress.update(bar, completed=total)
        elapsed = time.perf_counter() - started
        result_line = f"add(40, 2) -> {answer.get(timeout=10)!r} (AsyncResult.get)"
        if summed is not None:
            chord_line = (
                f"chord: demo.total of {CHORD_MEMBERS} adds -> {summed.get(timeout=10)!r}, "
                f"members {summed.parent.get(timeout=10) if summed.parent else []}"
            )
        worker.stop(timeout=10)
    finally:
        manager.unregister(tally)
        app.close()

    _print_summary(console, plan, tally, elapsed, total)
    console.print(result_line)
    console.print(chord_line)
    console.print("image start order (priority 9 first): " + " ".join(state.image_order))
    return Counter(tally.events)


def _print_summary(
    console: Console, plan: list[tuple[str, int]], tally: DemoTally, elapsed: float, total: int
) -> None:
    sent = Table(title="Sent", show_header=False)
    for line, _ in plan:
        sent.add_row(line)
    console.print(sent)
    outcome = Table(title=f"What happened ({total} tasks in {elapsed:.2f} s)")
    outcome.add_column("outcome")
    outcome.add_column("count", justify="right")
    outcome.add_row("succeeded", str(tally.events["succeeded"]))
    outcome.add_row("retried (then ran again)", str(tally.events["retried"]))
    outcome.add_row("dead", str(tally.events["dead"]))
    console.print(outcome)
    if tally.dead_reasons:
        dead = Table(title="DEAD, with reasons")
        dead.add_column("task")
        dead.add_column("reason")
        for task, reason in tally.dead_reasons:
            dead.add_row(task, reason)
        console.print(dead)

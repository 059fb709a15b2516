"""Periodic tasks: one send per tick however many workers run, catch-up, DST, bad schedules.

Run from the repository root: ``python -m examples.periodic``. Everything runs in this process
on the in-memory broker; see docs/periodic.md.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from typing import Any
from zoneinfo import ZoneInfo

from taskq_core import ConfigurationError, FakeClock, Taskq, Worker
from taskq_core.periodic import Cron
from taskq_core.plugins import hookimpl, plugin_manager
from taskq_memory import MemoryBroker

app = Taskq("memory://")


@app.periodic(every=1)
@app.task
def heartbeat() -> None:
    """Sent once a second, at whole seconds, by whichever worker's scheduler claims the tick."""


@app.periodic(cron="0 9 * * 1-5", tz="Europe/Paris", args=["weekday"])
def morning_report(kind: str) -> str:
    """A plain function under ``@app.periodic`` becomes a task too."""
    return f"{kind} report"


class TickLog:
    """Records the tick of every periodic run (the scheduler writes it in a message header)."""

    def __init__(self) -> None:
        self.ticks: Counter[tuple[str, float]] = Counter()
        self.changed = threading.Condition()

    @hookimpl
    def taskq_task_started(self, delivery: Any) -> None:
        """Count the run under its task and tick."""
        headers = delivery.message.headers
        if "taskq-tick" in headers:
            with self.changed:
                self.ticks[(delivery.message.task, float(headers["taskq-tick"]))] += 1
                self.changed.notify_all()

    def of(self, task: str, *, after: float = 0.0) -> Counter[float]:
        """Runs per tick of ``task``, for ticks later than ``after``."""
        with self.changed:
            return Counter(
                {t: n for (name, t), n in self.ticks.items() if name == task and t > after}
            )

    def wait(self, task: str, count: int, *, after: float = 0.0) -> None:
        """Block until ``task`` ran for ``count`` ticks later than ``after`` (10 s at most)."""
        with self.changed:
            self.changed.wait_for(lambda: len(self.of(task, after=after)) >= count, timeout=10)


log = TickLog()


def three_workers() -> None:
    """Three workers, each with a scheduler: every tick still runs once."""
    workers = [Worker(app, concurrency=1, block_timeout=0.2) for _ in range(3)]
    for worker in workers:
        worker.start()
    try:
        log.wait(heartbeat.name, 3)
    finally:
        for worker in workers:
            worker.stop(timeout=5)
    runs = log.of(heartbeat.name)
    once = set(runs.values()) == {1}
    print(f"3 workers with schedulers, {len(runs)} ticks: each ran once: {once}")
    print(f"ticks on whole seconds: {all(t == int(t) for t in runs)}")
    print("schedules:", sorted(app.periodic_schedules))


def catch_up() -> None:
    """An hour without any worker: 3600 missed ticks of every=1 are sent once, not 3600 times."""
    clock = FakeClock(1_700_000_000.5)
    offline = Taskq(MemoryBroker(clock=clock))

    @offline.periodic(every=1, name="every-second")
    @offline.task(name="examples.tick")
    def tick() -> None: ...

    worker = Worker(offline, concurrency=1, block_timeout=0.2)
    worker.start()
    while not log.of(tick.name):  # a new schedule starts at its next tick: move the clock there
        clock.advance(1.0)
        log.wait(tick.name, 1)
    worker.stop(timeout=5)
    gone = clock.advance(3600.0)
    worker = Worker(offline, concurrency=1, block_timeout=0.2)
    worker.start()
    log.wait(tick.name, 1, after=gone - 3600.0)
    worker.stop(timeout=5)
    caught_up = log.of(tick.name, after=gone - 3600.0)
    print(f"after an hour offline: {sum(caught_up.values())} catch-up run, for the latest tick")


def dst() -> None:
    """Cron in a timezone follows its wall clock, DST included (cronsim's rules)."""
    paris = Cron("30 2 * * *", ZoneInfo("Europe/Paris"))
    moment = dt.datetime(2026, 3, 28, 12, tzinfo=dt.UTC).timestamp()
    for _ in range(2):
        moment = paris.next_after(moment)
        print("30 2 * * * Europe/Paris ->", dt.datetime.fromtimestamp(moment, paris.tz).isoformat())


def mistakes() -> None:
    """A bad schedule fails at decoration, in one line."""
    for options in ({"cron": "61 * * * *"}, {"cron": "0 9 * * *", "tz": "Europe/Pariss"}):
        try:
            app.periodic(**options)  # type: ignore[arg-type]
        except ConfigurationError as exc:
            print(f"{options} -> ConfigurationError: {exc}")


def main() -> None:
    """Each part in turn, with the tick log listening."""
    plugin_manager().register(log)
    try:
        three_workers()
        catch_up()
        dst()
        mistakes()
    finally:
        plugin_manager().unregister(log)


if __name__ == "__main__":
    main()

"""Workflows: chain, group, chord (a map-reduce over 1,000 items), links, task context, progress.

Run from the repository root: ``python -m examples.workflows``. Everything runs in this process
on the in-memory broker; see docs/workflows.md.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from taskq_core import TaskError, Taskq, Worker, chain, chord, current_task, group

app = Taskq("memory://")
calls: Counter[str] = Counter()
proceed = threading.Event()
fixed = threading.Event()
#: What the callbacks saw, for main() to print in order.
alerts: list[str] = []
alerted, notified = threading.Event(), threading.Event()


@app.task
def add(x: int, y: int) -> int:
    """Add two numbers."""
    return x + y


@app.task
def mul(x: int, y: int) -> int:
    """Multiply two numbers."""
    return x * y


@app.task
def count_words(line: str) -> dict[str, int]:
    """The map step: one line in, its word counts out."""
    return dict(Counter(line.split()))


@app.task
def merge_counts(counts: list[dict[str, int]]) -> dict[str, int]:
    """The reduce step: a chord's callback, run once with every member's result in order."""
    calls["merge_counts"] += 1
    total: Counter[str] = Counter()
    for part in counts:
        total.update(part)
    return dict(total.most_common(3))


@app.task(max_retries=0)
def fetch(page: int) -> int:
    """Page 3 is broken until it is fixed."""
    if page == 3 and not fixed.is_set():
        raise ConnectionError(f"page {page} is unreachable")
    return page * 10


@app.task
def total(values: list[int]) -> int:
    """A chord callback: the sum of the members' results."""
    return sum(values)


@app.task
def alert(failed_id: str, what: str) -> None:
    """An error callback: receives the id of the task that failed first."""
    alerts.append(failed_id)
    alerted.set()


@app.task
def notify(value: Any, channel: str) -> None:
    """A link: receives the result of the task it is linked to."""
    print(f"link: notify({value!r}, {channel!r})")
    notified.set()


@app.task(bind=True)
def crunch(self: Any, items: int) -> str:
    """A bound task: ``self.request`` and ``self.set_progress``."""
    self.set_progress(items // 2, items, {"stage": "halfway"})
    proceed.wait(10)
    return f"crunched {items} items as {self.request.id == current_task.request.id}"


def main() -> None:
    """Run a worker in this process and send one workflow of each kind."""
    worker = Worker(app, concurrency=4)
    worker.start()
    try:
        # chain: each result is the first argument of the next step; si() ignores it
        result = chain(add.s(2, 2), mul.s(4), add.s(1)).delay()
        print(f"chain(add.s(2, 2), mul.s(4), add.s(1)) -> {result.get(timeout=10)}")
        steps, handle = [], result
        while handle is not None:
            steps.append(handle.get(timeout=10))
            handle = handle.parent
        print(f"walking .parent back: {steps}")
        piped = (add.s(1, 1) | mul.s(10) | add.si(5, 5)).delay()
        print(f"add.s(1, 1) | mul.s(10) | add.si(5, 5) -> {piped.get(timeout=10)}")

        # group: results in call order
        squares = group(mul.s(i, i) for i in range(10)).delay()
        print(f"group of 10 -> {squares.get(timeout=10)} completed={squares.completed_count()}")

        # chord: map-reduce over 1,000 lines
        lines = [f"taskq chord line {i % 7} taskq" for i in range(1000)]
        top = chord((count_words.s(line) for line in lines), merge_counts.s()).delay()
        print(f"map-reduce over {len(lines)} lines -> {top.get(timeout=30)}")
        print(f"merge_counts ran {calls['merge_counts']} time(s)")

        # chain(group, task) is a chord
        as_chord = chain(group(add.s(i, i) for i in range(5)), total.s()).delay()
        print(f"chain(group(add.s(i, i) ...), total.s()) -> {as_chord.get(timeout=10)}")

        # links
        add.apply_async((20, 22), link=notify.s("ops")).get(timeout=10)
        notified.wait(10)

        # a chord whose member dies: the callback does not run; requeue after the fix
        pages = chord([fetch.s(p) for p in range(5)], total.s()).set(
            link_error=alert.s("the page chord failed")
        )
        pages_result = pages.delay()
        try:
            pages_result.get(timeout=10)
        except TaskError as exc:
            print(f"chord failed: {exc.exc_type}: member fetch failed -> callback not run")
        alerted.wait(10)
        page3 = pages_result.parent[3].id  # type: ignore[index]
        print(f"link_error ran once, with the dead member's id: {alerts == [page3]}")
        fixed.set()
        requeued = app.broker.requeue_dead(app.default_queue)
        print(f"fixed page 3, requeued {requeued}: chord -> {_wait_success(pages_result)}")

        # task context and progress
        crunching = crunch.delay(1000)
        while crunching.progress is None:
            threading.Event().wait(0.01)
        print(f"progress: {crunching.progress} status={crunching.status}")
        proceed.set()
        print(f"crunch -> {crunching.get(timeout=10)!r}")
    finally:
        worker.stop(timeout=10)


def _wait_success(result: Any) -> Any:
    """The value once the requeued member made the chord complete."""
    while result.status != "SUCCESS":
        threading.Event().wait(0.01)
    return result.get(timeout=10)


if __name__ == "__main__":
    main()

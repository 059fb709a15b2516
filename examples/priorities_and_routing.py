"""Priorities within a queue, routes to queues, and fair, weighted and strict queue order.

Run from the repository root: ``python -m examples.priorities_and_routing``. Everything runs in
this process on the in-memory broker; see docs/priorities-and-routing.md.
"""

from __future__ import annotations

from taskq_core import AsyncResult, Taskq, Worker

app = Taskq("memory://", routes={"reports.*": "reports", "*.resize": "images"})

#: Labels in the order the worker ran them (one worker slot, so the order is the queue's).
ran: list[str] = []


@app.task(name="jobs.step")
def step(label: str) -> None:
    """Record that ``label`` ran."""
    ran.append(label)


@app.task(name="reports.monthly")
def monthly_report() -> None:
    """Routed by ``reports.*``."""


@app.task(name="reports.digest", queue="emails")
def digest() -> None:
    """Matches ``reports.*`` too, but its own ``queue=`` wins over routes."""


@app.task(name="media.resize")
def resize() -> None:
    """Routed by ``*.resize``."""


def drain(queues: list[str], results: list[AsyncResult], order: str = "fair") -> list[str]:
    """Run one single-slot worker on ``queues`` until every result is in; return the order."""
    ran.clear()
    worker = Worker(app, queues=queues, queue_order=order, concurrency=1, prefetch=0)
    worker.start()
    try:
        for result in results:
            result.get(timeout=10)
    finally:
        worker.stop()
    return list(ran)


def main() -> None:
    """Show where messages go and in which order one worker runs them."""
    print(f"reports.monthly -> {monthly_report.delay().queue}")
    print(f"reports.digest  -> {digest.delay().queue}")
    print(f"media.resize    -> {resize.delay().queue}")
    print(f"jobs.step       -> {step.delay('routing').queue}")
    urgent = monthly_report.apply_async(queue="urgent")
    print(f"apply_async(queue='urgent') -> {urgent.queue}")
    app.broker.purge("default")

    # Priority: larger first, FIFO within a level. Everything is sent before the worker starts.
    sent = [
        step.apply_async((f"p{priority}-{n}",), priority=priority)
        for n, priority in enumerate([0, 9, 5, 0, 9, 5])
    ]
    print(f"priority order: {drain(['default'], sent)}")

    # Fair queue order (the default): the queues take turns, so neither starves.
    sent = [
        step.apply_async((f"{queue}{n}",), queue=queue)
        for queue in ("high", "low")
        for n in range(5)
    ]
    print(f"fair -Q high,low: {drain(['high', 'low'], sent)}")

    # Strict queue order: 'low' runs only once 'high' is empty.
    sent = [
        step.apply_async((f"{queue}{n}",), queue=queue)
        for n in range(5)
        for queue in ("high", "low")
    ]
    print(f"strict -Q high,low: {drain(['high', 'low'], sent, 'strict')}")

    # Weighted order: out of every 10 reserves, 6 start at high, 3 at default, 1 at low.
    queues = ("high", "default", "low")
    sent = [step.apply_async((f"{q}{n}",), queue=q) for n in range(10) for q in queues]
    order = drain(["high:6", "default:3", "low:1"], sent)
    first_ten = order[:10]
    counts = {q: sum(label.startswith(q) for label in first_ten) for q in queues}
    print(f"weighted -Q high:6,default:3,low:1, first 10: {first_ten}")
    print(f"first 10 by queue: {counts}")


if __name__ == "__main__":
    main()

"""Unique tasks and paused queues.

Run from the repository root: ``python -m examples.unique_and_pause``. Everything runs in this
process on the in-memory broker; see docs/control.md.
"""

from __future__ import annotations

import threading

from taskq_core import FakeClock, Taskq, Worker
from taskq_memory import MemoryBroker

app = Taskq("memory://")
ran: list[str] = []
ran_changed = threading.Condition()


def record(name: str) -> None:
    """Note that ``name`` ran, for the waits below."""
    with ran_changed:
        ran.append(name)
        ran_changed.notify_all()


def wait_for(*names: str) -> None:
    """Block until every task run in ``names`` happened (10 s at most)."""
    with ran_changed:
        assert ran_changed.wait_for(lambda: set(names) <= set(ran), timeout=10), ran


@app.task(queue="reports", unique_for=600)
def rebuild_report(user: int) -> None:
    """Expensive: one rebuild per user at a time is enough."""
    record(f"report {user}")


@app.task(queue="emails")
def send_digest(user: int) -> None:
    """A plain task; a call can still ask for a unique key."""
    record(f"digest {user}")


def unique_tasks() -> None:
    """A second call while the first holds its key returns the first call's handle."""
    first = rebuild_report.delay(42)
    again = rebuild_report.delay(42)
    other = rebuild_report.delay(7)
    print(f"same call twice: same id {again.id == first.id}, duplicate={again.duplicate}")
    print(f"another user: duplicate={other.duplicate}")
    digest = send_digest.apply_async((42,), unique_key="digest:42", unique_for=60)
    repeat = send_digest.apply_async((43,), unique_key="digest:42", unique_for=60)
    print(f"unique_key on a call: duplicate={repeat.duplicate}")
    worker = Worker(app, queues=["reports", "emails"], concurrency=2)
    worker.start()
    try:
        first.get(timeout=10)
        digest.get(timeout=10)
        # The key is released by the ack, which follows the result within moments.
        while rebuild_report.delay(42).duplicate:
            threading.Event().wait(0.01)
        print("after it succeeded: the key is free, a new call is sent")
    finally:
        worker.stop()


def held_until_ttl() -> None:
    """``unique_until="ttl"`` keeps the key after the task is done, until ``unique_for`` ends."""
    clock = FakeClock(1_800_000_000.0)
    throttled = Taskq(MemoryBroker(clock=clock))

    @throttled.task(name="examples.ping_partner", unique_for=60, unique_until="ttl")
    def ping_partner() -> None: ...

    ping_partner.delay()
    print(f"ttl: second call within 60 s: duplicate={ping_partner.delay().duplicate}")
    clock.advance(60)
    print(f"ttl: after 60 s: duplicate={ping_partner.delay().duplicate}")


def paused_queue() -> None:
    """A worker skips a paused queue and starts its messages as soon as it is resumed."""
    app.pause_queue("emails")
    print(f"paused: {app.broker.paused('emails')}")
    for user in (1, 2):
        send_digest.delay(user)
        rebuild_report.delay(100 + user)
    worker = Worker(app, queues=["emails", "reports"], concurrency=2)
    worker.start()
    try:
        wait_for("report 101", "report 102")
        digests = sorted(name for name in ran if name.startswith("digest") and name != "digest 42")
        print(f"while paused: reports ran, digests ran {digests}")
        print(f"emails still ready: {app.broker.counts('emails').ready}")
        app.resume_queue("emails")
        wait_for("digest 1", "digest 2")
        print("after resume: digest 1 and digest 2 ran")
    finally:
        worker.stop()


def main() -> None:
    """Unique calls, a key held until its TTL, then a paused queue."""
    unique_tasks()
    held_until_ttl()
    paused_queue()


if __name__ == "__main__":
    main()

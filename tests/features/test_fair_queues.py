"""Fair queue order by default: a backlog in one queue does not starve the worker's others.

Each test fills ``default`` with a backlog and puts one message in ``emails`` before the worker
starts, then counts how many backlog tasks started before the ``emails`` one. The worker runs one
task at a time with its default prefetch, so one reserve takes at most a batch of the backlog.
"""

from __future__ import annotations

from typing import Any

import pytest

from taskq_core import Taskq

from ..support.recording import Labels
from ..support.waiting import wait_until

#: Messages in the busy queue; more than any single reserve of a one-slot worker takes.
BACKLOG = 100


def backlog_then_one_email(app: Taskq) -> Labels:
    """``BACKLOG`` messages in ``default``, then one in ``emails``; no worker yet."""
    starts = Labels()

    @app.task(name="features.busy")
    def busy(n: int) -> None:
        starts.add(f"busy{n}")

    @app.task(name="features.mail", queue="emails")
    def mail() -> None:
        starts.add("mail")

    busy.delay_many([(n,) for n in range(BACKLOG)])
    mail.delay()
    return starts


@pytest.mark.parametrize(
    "options",
    [{}, {"queues": ["default", "emails"]}],
    ids=["app-queues", "explicit-Q"],
)
def test_a_backlog_in_one_queue_does_not_starve_another(
    app: Taskq, make_worker, options: dict[str, Any]
):
    # Given a backlog in default and one message in emails, both sent before the worker starts
    starts = backlog_then_one_email(app)
    assert app.queue_names() == ["default", "emails"]

    # When a one-slot worker with the default queue order drains them
    make_worker(app, concurrency=1, **options)
    wait_until(lambda: len(starts) == BACKLOG + 1)

    # Then the emails message started while most of the backlog still waited
    started_before = starts.labels.index("mail")
    assert started_before < BACKLOG // 2, f"mail started after {started_before} backlog tasks"


def test_strict_order_drains_the_first_queue_before_the_next(app: Taskq, make_worker):
    # Given a backlog in default and one message in emails
    starts = backlog_then_one_email(app)

    # When a one-slot worker drains them in strict order
    make_worker(app, concurrency=1, queue_order="strict")
    wait_until(lambda: len(starts) == BACKLOG + 1)

    # Then the emails message ran only once default was empty
    assert starts.labels.index("mail") == BACKLOG

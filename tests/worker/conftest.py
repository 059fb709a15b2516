"""Fixtures of the worker tests: an app on a fake-clock memory broker, and quiet workers.

``make_worker(**options)`` here starts workers of this folder's ``app`` with
:data:`QUIET_WORKER` timings (the root conftest's ``make_worker`` and ``worker_options``, bound
to ``app``); ``events``, ``wait_until`` and ``wait_for`` come from the root conftest. Nothing
here sleeps to synchronize: tests wait on ``threading.Event`` objects set by their tasks, or on
a condition polled against a deadline, and fail loudly at the deadline.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

from taskq_core import Taskq, Worker

from ..support.memory import app, broker
from ..support.waiting import wait_for
from ..support.workers import MakeWorker

if TYPE_CHECKING:
    from taskq_core import Task

__all__ = ["QUIET_WORKER", "app", "broker", "gated", "make_worker", "worker_options"]

#: Worker settings for tests: timers that tick once at start and then stay quiet, so the test
#: decides when leases are renewed or recovered; short blocking reserves so a fake-clock ETA is
#: noticed soon after the test moves the clock.
QUIET_WORKER: dict[str, Any] = {
    "heartbeat_interval": 30.0,
    "visibility_timeout": 60.0,
    "schedule_poll_interval": 60.0,
    "reaper_interval": 60.0,
    "worker_timeout": 10_000.0,
    "block_timeout": 0.05,
    "shutdown_grace": 10.0,
}


@pytest.fixture
def worker_options() -> dict[str, Any]:
    """Quiet timers (:data:`QUIET_WORKER`) for every worker ``make_worker`` starts here."""
    return QUIET_WORKER


@pytest.fixture
def make_worker(app: Taskq, make_worker: MakeWorker) -> Callable[..., Worker]:
    """``make_worker(**options)``: start a worker of ``app``; every one is stopped after."""
    return functools.partial(make_worker, app)


@dataclass
class GatedTask:
    """``tests.gated(n=0)``: records ``n``; the call with ``n == 0`` sets ``started`` and then
    blocks until the test sets ``release``; other calls return at once."""

    task: Task[..., None]
    started: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    ran: list[int] = field(default_factory=list)


@pytest.fixture
def gated(app: Taskq, make_worker: Callable[..., Worker]) -> Iterator[GatedTask]:
    """A task the test holds inside its call; released at teardown, before workers stop."""
    started, release, ran = threading.Event(), threading.Event(), []

    @app.task(name="tests.gated")
    def gated_task(n: int = 0) -> None:
        ran.append(n)
        if n == 0:
            started.set()
            wait_for(release)

    yield GatedTask(gated_task, started, release, ran)
    release.set()

"""Fixtures of the monitoring tests: in-process workers, waiting, and scraping an HTTP port.

Nothing here sleeps to synchronize: tests poll a condition against a deadline
(:func:`wait_until`) and fail loudly at the deadline.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from taskq_core import Worker

if TYPE_CHECKING:
    from pathlib import Path

    from taskq_core import Taskq

#: Longest wait for any condition, in seconds; reached only when something is broken.
WAIT_TIMEOUT = 30.0

#: In-process worker timings: quick timers, short blocking reserves so ``stop()`` is quick.
MONITORED_WORKER: dict[str, Any] = {
    "heartbeat_interval": 0.2,
    "visibility_timeout": 10.0,
    "schedule_poll_interval": 0.1,
    "reaper_interval": 0.1,
    "block_timeout": 0.1,
    "shutdown_grace": 5.0,
}

#: (metric sample name, sorted label items) -> value.
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def wait_until(
    predicate: Callable[[], object],
    *,
    timeout: float = WAIT_TIMEOUT,
    what: str | Callable[[], str] = "",
) -> None:
    """Return once ``predicate()`` is true; fail the test if it is still false at the deadline.

    ``what`` names the condition in the failure; a callable is asked only then.
    """
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            described = what() if callable(what) else what
            pytest.fail(f"not met within {timeout} s: {described or predicate}")
        pause.wait(0.01)


def get(url: str) -> tuple[int, str]:
    """HTTP GET: (status, body), also for 4xx/5xx answers."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()


def scrape(port: int, host: str = "127.0.0.1") -> Samples:
    """Every sample of ``http://host:port/metrics``, parsed by prometheus-client's parser."""
    status, text = get(f"http://{host}:{port}/metrics")
    assert status == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def taskq_samples(samples: Samples, *names: str) -> Samples:
    """The samples named ``names`` (taskq's own, without process and GC metrics)."""
    return {key: value for key, value in samples.items() if key[0] in names}


@pytest.fixture
def in_rootdir(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from the repository root, where ``tests.monitoring.*`` is importable by a child."""
    root: Path = request.config.rootpath
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def make_worker() -> Iterator[Callable[..., Worker]]:
    """``make_worker(app, **options)``: a started worker, stopped after the test."""
    started: list[Worker] = []

    def make(app: Taskq, **options: Any) -> Worker:
        worker = Worker(app, **{**MONITORED_WORKER, **options})
        worker.start()
        started.append(worker)
        return worker

    yield make
    for worker in started:
        worker.stop(timeout=5)

"""Fixtures of the monitoring tests: worker timings, and scraping an HTTP port.

Workers come from the root conftest's ``make_worker`` with :data:`MONITORED_WORKER` timings.
Nothing here sleeps to synchronize: tests poll a condition against a deadline
(``tests/support/waiting.py``) and fail loudly at the deadline.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

if TYPE_CHECKING:
    pass

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
def worker_options() -> dict[str, Any]:
    """:data:`MONITORED_WORKER` timings for every worker ``make_worker`` starts here."""
    return MONITORED_WORKER

"""The framework examples (examples/fastapi_app, flask_app, django_project) under test.

Every test runs twice: on the memory backend and on the real redis-server
(``TASKQ_TEST_REDIS_URL``: skipped locally without it, failing in CI), each Redis run under a
key prefix of its own that is deleted afterwards.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from taskq_core import Taskq, Worker

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL_ENV = "TASKQ_TEST_REDIS_URL"
#: Seconds a test waits for a worker's result; each arrives in milliseconds when nothing is broken.
WAIT_TIMEOUT = 30.0

if str(ROOT) not in sys.path:  # the examples import as ``examples.<name>``, from the root
    sys.path.insert(0, str(ROOT))


def real_redis_url() -> str:
    """The real server's URL: skip locally without one, fail in CI."""
    url = os.environ.get(REDIS_URL_ENV)
    if not url:
        if os.environ.get("CI"):
            raise RuntimeError(f"{REDIS_URL_ENV} must be set in CI: the real-Redis tests need it")
        pytest.skip(f"{REDIS_URL_ENV} not set; real-Redis tests skipped")
    return url


def delete_prefix(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def taskq_broker_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The test broker: memory://, then the real redis-server under a fresh prefix."""
    if request.param == "memory":
        yield "memory://"
        return
    url = real_redis_url()
    prefix = f"tq-web-{uuid.uuid4().hex[:12]}"
    yield f"{url}?prefix={prefix}"
    delete_prefix(url, prefix)


@pytest.fixture
def start_worker() -> Iterator[Callable[[Taskq], Worker]]:
    """``start_worker(app)``: a real threads-pool worker, stopped after the test."""
    started: list[Worker] = []

    def start(app: Taskq) -> Worker:
        worker = Worker(app, concurrency=2, heartbeat_interval=1.0, block_timeout=0.5)
        worker.start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop(timeout=5)

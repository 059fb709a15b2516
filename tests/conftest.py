"""Fixtures every test folder shares; their machinery is in ``tests/support``.

- ``redis_url``: URL of the session's real redis-server (``$TASKQ_TEST_REDIS_URL``, else one
  the session starts); ``private_redis_server`` / ``private_redis_url``: one the session started
  itself; ``start_redis_server(aof=..., port=...)``: one only this test uses (to kill or
  restart); ``prefix``: this test's key prefix.
- ``make_worker(app, **options)`` with ``worker_options`` as its defaults.
- ``in_rootdir``: the test runs from the repository root (for child processes).
- ``events``: the lifecycle hooks this test's in-process workers called.
- ``wait_until`` / ``wait_for`` as fixtures, for tests that take them as arguments; modules
  import them from ``tests/support/waiting.py``.

Opt-in per folder, imported into that folder's conftest because other folders give the names
another meaning: ``broker`` / ``app`` on a fake clock (``tests/support/memory.py``) and the test
kit's ``taskq_broker_url`` on both backends (``tests/support/kit.py``).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .support.processes import in_rootdir
from .support.recording import events
from .support.redis_server import (
    prefix,
    private_redis_server,
    private_redis_url,
    redis_url,
    start_redis_server,
)
from .support.waiting import wait_for as wait_for_event
from .support.waiting import wait_until as wait_until_true
from .support.workers import make_worker, worker_options

__all__ = [
    "events",
    "in_rootdir",
    "make_worker",
    "prefix",
    "private_redis_server",
    "private_redis_url",
    "redis_url",
    "start_redis_server",
    "wait_for",
    "wait_until",
    "worker_options",
]


@pytest.fixture
def wait_until() -> Callable[..., object]:
    """``wait_until(condition, timeout=..., what=...)``: poll against a deadline."""
    return wait_until_true


@pytest.fixture
def wait_for() -> Callable[..., None]:
    """``wait_for(event)``: wait for an event; fail at the deadline."""
    return wait_for_event

"""Fixtures of the crash tests; the machinery is in ``harness.py``.

Most tests share the session's ``private_redis_server`` (one this suite started, no
persistence), each under its own key prefix; a test that restarts the server or counts its
commands starts one of its own with ``start_redis_server``. Both come from the root conftest
(``tests/support/redis_server.py``): without the ``redis-server`` binary the tests skip locally
and fail when ``CI`` is set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ..support.redis_server import RedisServer, StartRedisServer
from .harness import Crash


@pytest.fixture
def crash_on(
    queue_name: str, tmp_path: Path, start_redis_server: StartRedisServer
) -> Iterator[Callable[[RedisServer], Crash]]:
    """Build the test's :class:`Crash` on a given server; workers and keys go at teardown."""
    made: list[Crash] = []

    def make(server: RedisServer) -> Crash:
        crash = Crash(server, queue_name, tmp_path)
        made.append(crash)
        return crash

    yield make
    # Torn down before start_redis_server (a dependency), so workers die before their server.
    for crash in made:
        print(crash.describe())  # shown by pytest only when the test failed
        crash.close()


@pytest.fixture
def crash(crash_on: Callable[[RedisServer], Crash], private_redis_server: RedisServer) -> Crash:
    """The test's :class:`Crash` on the session's private server."""
    return crash_on(private_redis_server)

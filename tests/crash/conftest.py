"""Fixtures of the crash tests; the machinery is in ``harness.py``.

A session-wide ``redis-server`` (no persistence) serves most tests, each under its own key
prefix; a test that restarts the server or counts its commands starts one of its own with
``start_redis_server``. Without the ``redis-server`` binary the tests skip locally and fail when
``CI`` is set.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .harness import Crash, RedisServer, redis_server_binary


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory):
    """A redis-server for the whole session, without persistence; tests use their own prefixes."""
    server = RedisServer(redis_server_binary(), tmp_path_factory.mktemp("redis"), aof=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def start_redis_server(tmp_path: Path):
    """Start a redis-server only this test uses (to restart it, or to count its commands)."""
    servers: list[RedisServer] = []

    def start(*, aof: bool = False) -> RedisServer:
        directory = tmp_path / f"redis-{len(servers)}"
        directory.mkdir()
        server = RedisServer(redis_server_binary(), directory, aof=aof)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def crash_on(queue_name: str, tmp_path: Path, start_redis_server):
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
def crash(crash_on, redis_server: RedisServer) -> Crash:
    """The test's :class:`Crash` on the shared session server."""
    return crash_on(redis_server)

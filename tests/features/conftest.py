"""Fixtures of the feature tests: apps on memory and on a real Redis.

The feature tests check each feature end to end, through ``Taskq``, ``Worker`` and
``AsyncResult`` as a user calls them. Most run twice, on a :class:`MemoryBroker` and on the
session's real ``redis-server`` (the ``backend`` fixture is parametrized; the server is the root
conftest's ``redis_url``). Each test uses its own key prefix and deletes only its own keys.
Workers come from the root conftest's ``make_worker``, hooks from its ``events``.

Nothing here sleeps to synchronize: tests wait on events their tasks set, or poll a condition
against a deadline (``tests/support/waiting.py``) and fail loudly at the deadline.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
import redis

from taskq_core import Taskq
from taskq_memory import MemoryBroker
from taskq_redis import RedisBroker

from ..support.redis_server import delete_prefix

if TYPE_CHECKING:
    from taskq_core import BaseBroker


@pytest.fixture
def redis_client(redis_url: str, prefix: str) -> Iterator[redis.Redis]:
    """A client of the real server; afterwards every key under this test's prefix is deleted."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    delete_prefix(client, prefix)
    client.close()


# -- brokers and apps ------------------------------------------------------------------------------


class Backend:
    """The broker of one test, and how to tell that result waiters are blocked in it."""

    def __init__(
        self, kind: str, broker: BaseBroker, client: redis.Redis | None, client_name: str
    ) -> None:
        self.kind = kind
        self.broker = broker
        self._client = client
        self._client_name = client_name

    def blocked_result_waiters(self, threads: list[threading.Thread]) -> int:
        """How many of ``threads`` are blocked inside the broker waiting for a result.

        Redis: the server's own view (clients of this test's broker blocked in BLMOVE).
        Memory: the thread's innermost frame is a ``Condition.wait`` inside ``get_result``.
        """
        if self._client is not None:
            return sum(
                1
                for entry in self._client.client_list()
                if entry.get("name") == self._client_name
                and entry.get("cmd") == "blmove"
                and "b" in entry.get("flags", "")
            )
        frames = sys._current_frames()
        return sum(
            1 for t in threads if t.ident in frames and _waits_in_get_result(frames[t.ident])
        )


def _waits_in_get_result(frame: Any) -> bool:
    if frame.f_code.co_name != "wait":
        return False
    while frame is not None:
        if frame.f_code.co_name == "get_result":
            return True
        frame = frame.f_back
    return False


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest, prefix: str) -> Iterator[Backend]:
    """A broker on the system clock: in memory, then on the real Redis server."""
    if request.param == "memory":
        yield Backend("memory", MemoryBroker(), None, prefix)
        return
    client: redis.Redis = request.getfixturevalue("redis_client")
    url = request.getfixturevalue("redis_url")
    separator = "&" if "?" in url else "?"
    broker = RedisBroker.from_url(f"{url}{separator}client_name={prefix}", prefix=prefix)
    broker.connect()
    yield Backend("redis", broker, client, prefix)
    broker.close()


@pytest.fixture
def broker(backend: Backend) -> BaseBroker:
    return backend.broker


@pytest.fixture
def app(broker: BaseBroker) -> Taskq:
    """An app with no tasks yet, on ``broker``."""
    return Taskq(broker)

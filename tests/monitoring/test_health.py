"""``--health-port``: 200 while the worker consumes and heartbeats, 503 once it cannot.

The worker runs on a redis-server of the test's own, which the test kills to make the
heartbeat fail (the broker unreachable) and starts again to see the worker recover.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from taskq_core import BrokerUnavailable, Taskq, Worker
from taskq_core.monitoring.health import HealthServer
from taskq_memory import MemoryBroker

from ..support.redis_server import RedisServer, StartRedisServer
from ..support.waiting import wait_until
from .conftest import get

if TYPE_CHECKING:
    from taskq_core import WorkerInfo


@pytest.fixture
def health_of() -> Iterator[Callable[[Worker], HealthServer]]:
    """``health_of(worker)``: a health server on a free loopback port, closed afterwards."""
    servers: list[HealthServer] = []

    def make(worker: Worker) -> HealthServer:
        server = HealthServer(worker, port=0)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


def probe(server: HealthServer) -> tuple[int, dict[str, object]]:
    status, body = get(f"http://127.0.0.1:{server.port}/healthz")
    return status, json.loads(body)


def test_health_is_200_while_heartbeats_succeed_and_503_when_the_broker_is_gone(
    start_redis_server: StartRedisServer,
    make_worker: Callable[..., Worker],
    health_of: Callable[[Worker], HealthServer],
):
    # Given a worker on a real redis-server, heartbeating every 0.2 s, with a health port
    redis_server: RedisServer = start_redis_server()  # only this test's: it gets killed
    app = Taskq(redis_server.url)
    app.task(name="health.noop")(lambda: None)
    worker = make_worker(app)
    health = health_of(worker)

    # Then the probe answers 200 once the first heartbeat went through
    wait_until(lambda: probe(health)[0] == 200, what="health 200")
    body = probe(health)[1]
    assert body["consuming"] is True
    assert body["heartbeating"] is True

    # When the redis-server dies, the heartbeat fails: 503, naming a stale heartbeat
    redis_server.kill()
    wait_until(lambda: probe(health)[0] == 503, what="health 503 with the broker gone")
    body = probe(health)[1]
    assert body["status"] == "unavailable"
    assert isinstance(body["heartbeat_age"], float)
    assert body["heartbeat_age"] > 0.4
    assert body["consuming"] is True  # the consumer lives on, retrying its reserve

    # And when the server is back, so is the worker
    redis_server.start()
    wait_until(lambda: probe(health)[0] == 200, what="health 200 after the broker came back")


class FailingHeartbeats(MemoryBroker):
    """A memory broker whose heartbeats fail at once while ``down`` is set."""

    down = False

    def send_heartbeat(self, worker: WorkerInfo) -> None:
        if self.down:
            raise BrokerUnavailable("heartbeat refused")
        super().send_heartbeat(worker)


def test_health_is_503_while_heartbeats_fail_even_when_each_fails_fast(
    make_worker: Callable[..., Worker], health_of: Callable[[Worker], HealthServer]
):
    # Given a worker whose heartbeats (every 0.2 s) can be made to fail at once
    broker = FailingHeartbeats()
    app = Taskq(broker)
    app.task(name="health.noop")(lambda: None)
    health = health_of(make_worker(app))
    wait_until(lambda: probe(health)[0] == 200, what="health 200")

    # When every heartbeat fails: only an attempt that reached the broker counts
    broker.down = True
    wait_until(lambda: probe(health)[0] == 503, what="health 503 while heartbeats fail")

    # And when they succeed again, so does the probe
    broker.down = False
    wait_until(lambda: probe(health)[0] == 200, what="health 200 after heartbeats recovered")


def test_health_is_503_before_start_and_after_stop(
    health_of: Callable[[Worker], HealthServer], make_worker: Callable[..., Worker]
):
    app = Taskq("memory://")
    app.task(name="health.noop")(lambda: None)
    unstarted = Worker(app, heartbeat_interval=0.2, visibility_timeout=10)
    assert probe(health_of(unstarted))[0] == 503

    worker = make_worker(app)
    health = health_of(worker)
    wait_until(lambda: probe(health)[0] == 200, what="health 200")
    assert worker.stop(timeout=5)
    status, body = probe(health)
    assert (status, body["consuming"]) == (503, False)


def test_the_health_port_binds_loopback_by_default(health_of: Callable[[Worker], HealthServer]):
    worker = Worker(Taskq("memory://"), queues=["default"])
    assert health_of(worker)._server.server_address[0] == "127.0.0.1"

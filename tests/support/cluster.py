"""A real 3-primary Redis Cluster on loopback, for the Cluster tests (one per test session).

Six ``redis-server --cluster-enabled yes`` processes on free ports, joined by
``redis-cli --cluster create ... --cluster-replicas 1 --cluster-yes`` (three primaries, each
with one replica, so a test can fail a primary over); ready once every node reports
``cluster_state:ok`` and every replica is in sync. Only ``redis-server`` and ``redis-cli`` on
PATH are needed; without them the tests skip locally and fail in CI.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

#: Seconds the cluster may take to form (slots assigned and agreed by every node).
FORM_SECONDS = 60.0


def free_port() -> int:
    """A free loopback port whose cluster bus port (port + 10000) is free too."""
    # A cluster node also listens on port + 10000 (its bus): pick ports whose bus port is free.
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port + 10000 > 65535:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


def server_binary(name: str) -> str:
    """The path of ``name`` (redis-server, redis-cli); skip without it, but fail under CI."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed; the Cluster and Sentinel tests start their own servers"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI is set, so this is an error)")
        pytest.skip(message)
    return path


@dataclass
class RedisCluster:
    """The running cluster: its nodes' ports and processes."""

    directory: Path
    ports: list[int] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def replica_of(self, primary: int) -> int:
        """The port of a replica of the primary on port ``primary``."""
        for port in self.ports:
            info = self.cli(port, "info", "replication")
            if f"master_port:{primary}" in info:
                return port
        raise LookupError(f"no replica of the primary on port {primary}")

    def failover(self, replica: int) -> None:
        """``CLUSTER FAILOVER`` on ``replica``; returns once it is a primary and all is ok."""
        assert "OK" in self.cli(replica, "cluster", "failover")
        self._until(
            lambda: "role:master" in self.cli(replica, "info", "replication"),
            f"node {replica} to be promoted",
        )
        self._until(
            lambda: all("cluster_state:ok" in self.cli(p, "cluster", "info") for p in self.ports),
            "every node to report cluster_state:ok after the failover",
        )

    @property
    def url(self) -> str:
        """The ``redis+cluster://`` URL naming every node as a seed."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports) + "/"

    def cli(self, port: int, *args: str, timeout: float = 30.0) -> str:
        """Run ``redis-cli -p port args...`` and return its output."""
        done = subprocess.run(
            [server_binary("redis-cli"), "-p", str(port), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
        return done.stdout

    def start(self, count: int = 6) -> None:
        server = server_binary("redis-server")
        for _ in range(count):
            port = free_port()
            node_dir = self.directory / str(port)
            node_dir.mkdir()
            self.ports.append(port)
            self.processes.append(
                subprocess.Popen(
                    [
                        server,
                        *("--bind", "127.0.0.1", "--port", str(port), "--dir", str(node_dir)),
                        *("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"),
                        *("--cluster-node-timeout", "2000", "--save", "", "--appendonly", "no"),
                        *("--maxmemory-policy", "noeviction", "--logfile", "redis.log"),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        for port in self.ports:
            self._until(lambda port=port: self._answers(port), f"node {port} to answer PING")
        nodes = [f"127.0.0.1:{port}" for port in self.ports]
        self.cli(
            self.ports[0],
            *("--cluster", "create", *nodes, "--cluster-replicas", "1", "--cluster-yes"),
            timeout=60.0,
        )
        for port in self.ports:
            self._until(
                lambda port=port: "cluster_state:ok" in self.cli(port, "cluster", "info"),
                f"node {port} to report cluster_state:ok",
            )
            self._until(
                lambda port=port: self._in_sync(port), f"node {port}'s replication to be up"
            )

    def _in_sync(self, port: int) -> bool:
        info = self.cli(port, "info", "replication")
        return "role:master" in info or "master_link_status:up" in info

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
        for process in self.processes:
            process.wait(timeout=30)

    def _answers(self, port: int) -> bool:
        try:
            return "PONG" in self.cli(port, "ping", timeout=5.0)
        except subprocess.SubprocessError:
            return False

    def _until(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + FORM_SECONDS
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.1)
        raise RuntimeError(f"the Redis Cluster did not form: waited for {what}")


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """A 3-primary Redis Cluster on loopback for the whole session, torn down at its end."""
    cluster = RedisCluster(tmp_path_factory.mktemp("cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()

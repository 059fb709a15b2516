"""A Sentinel setup on loopback: a primary, one replica and one Sentinel (one per session).

The replica is attached before the Sentinel starts, so the Sentinel learns of it from the
primary's first INFO and a ``SENTINEL FAILOVER`` can promote it. Only ``redis-server`` and
``redis-cli`` on PATH are needed; without them the tests skip locally and fail in CI.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .cluster import free_port, server_binary

#: Service name the Sentinel monitors.
SERVICE = "taskq-primary"
#: Seconds the setup (or a failover) may take.
SETTLE_SECONDS = 60.0


@dataclass
class SentinelSetup:
    """The running primary, replica and Sentinel."""

    directory: Path
    primary: int = 0
    replica: int = 0
    sentinel: int = 0
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The ``redis+sentinel://`` URL of the service, database 0."""
        return f"redis+sentinel://127.0.0.1:{self.sentinel}/{SERVICE}/0"

    def cli(self, port: int, *args: str) -> str:
        """Run ``redis-cli -p port args...`` and return its output."""
        done = subprocess.run(
            [server_binary("redis-cli"), "-p", str(port), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return done.stdout

    def primary_port(self) -> int:
        """The port the Sentinel names as the service's primary now."""
        reply = self.cli(self.sentinel, "sentinel", "get-master-addr-by-name", SERVICE).split()
        return int(reply[1])

    def until(self, condition: Callable[[], bool], what: str) -> None:
        """Poll ``condition`` until it holds; fail after :data:`SETTLE_SECONDS`."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while time.monotonic() < deadline:
            try:
                if condition():
                    return
            except (subprocess.SubprocessError, ValueError, IndexError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the Sentinel setup did not settle: waited for {what}")

    def _server(self, port: int, *options: str) -> None:
        node = self.directory / str(port)
        node.mkdir()
        self.processes.append(
            subprocess.Popen(
                [
                    server_binary("redis-server"),
                    *("--bind", "127.0.0.1", "--port", str(port), "--dir", str(node)),
                    *("--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction"),
                    *("--logfile", "redis.log"),
                    *options,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )

    def start(self) -> None:
        self.primary, self.replica, self.sentinel = free_port(), free_port(), free_port()
        self._server(self.primary)
        self.until(lambda: "PONG" in self.cli(self.primary, "ping"), "the primary")
        self._server(self.replica, "--replicaof", "127.0.0.1", str(self.primary))
        self.until(
            lambda: "master_link_status:up" in self.cli(self.replica, "info", "replication"),
            "the replica to sync",
        )
        config = self.directory / "sentinel.conf"
        config.write_text(
            f"port {self.sentinel}\nbind 127.0.0.1\ndir {self.directory}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {self.primary} 1\n"
            f"sentinel down-after-milliseconds {SERVICE} 2000\n"
            f"sentinel failover-timeout {SERVICE} 10000\n"
        )
        self.processes.append(
            subprocess.Popen(
                [server_binary("redis-server"), str(config), "--sentinel"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        self.until(
            lambda: f"127.0.0.1:{self.replica}" in self._replicas(),
            "the Sentinel to know the replica",
        )

    def _replicas(self) -> str:
        reply = self.cli(self.sentinel, "sentinel", "replicas", SERVICE)
        return reply if "s_down" not in reply and "disconnected" not in reply else ""

    def failover(self) -> int:
        """``SENTINEL FAILOVER``; returns the new primary's port once the Sentinel names it."""
        before = self.primary_port()
        assert "OK" in self.cli(self.sentinel, "sentinel", "failover", SERVICE)
        self.until(lambda: self.primary_port() != before, "the Sentinel to name a new primary")
        after = self.primary_port()
        self.until(
            lambda: "role:master" in self.cli(after, "info", "replication"),
            "the new primary to take writes",
        )
        return after

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
        for process in self.processes:
            process.wait(timeout=30)


@pytest.fixture(scope="session")
def redis_sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelSetup]:
    """A primary, a replica and a Sentinel on loopback for the session, torn down at its end."""
    setup = SentinelSetup(tmp_path_factory.mktemp("sentinel"))
    try:
        setup.start()
        yield setup
    finally:
        setup.stop()

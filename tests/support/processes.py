"""A worker run as a subprocess, with its log file, for tests that kill or signal it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

#: Lines of a worker's log shown when a test fails.
LOG_TAIL_LINES = 60


class WorkerProcess:
    """A worker subprocess and the file its output goes to."""

    def __init__(self, name: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
        self.name = name
        self.process = process
        self.log_path = log_path

    def __repr__(self) -> str:
        return f"<WorkerProcess {self.name} pid={self.pid} rc={self.process.poll()}>"

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def kill(self) -> None:
        """SIGKILL and reap: the worker gets no chance to release or unregister anything."""
        if self.alive:
            self.process.kill()
        self.process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self) -> str:
        lines = self.log().splitlines()
        return f"--- {self!r} log (last {LOG_TAIL_LINES} lines)\n" + "\n".join(
            lines[-LOG_TAIL_LINES:]
        )


@pytest.fixture
def in_rootdir(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from the repository root, where ``tests.<folder>.<module>`` imports in a child."""
    root: Path = request.config.rootpath
    monkeypatch.chdir(root)
    return root

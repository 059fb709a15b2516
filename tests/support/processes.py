"""A worker run as a subprocess, with its log file, for tests that kill or signal it."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
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

    @classmethod
    def start(
        cls,
        name: str,
        argv: Sequence[str],
        log_dir: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        plugin_autoload: bool = False,
    ) -> WorkerProcess:
        """Start ``argv`` in a session of its own, its output in ``<log_dir>/<name>.log``.

        The child inherits this environment plus ``env``, writes unbuffered, and loads no
        entry-point plugins unless ``plugin_autoload``.
        """
        extra = {"PYTHONUNBUFFERED": "1", **(env or {})}
        if not plugin_autoload:
            extra["TASKQ_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        log_path = log_dir / f"{name}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **extra},
                cwd=cwd,
                start_new_session=True,
            )
        return cls(name, process, log_path)

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


def is_running(pid: int) -> bool:
    """Whether a process with this id exists (a zombie counts until it is reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True

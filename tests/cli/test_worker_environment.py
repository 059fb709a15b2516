"""``taskq worker`` options from TASKQ_WORKER_* variables, and the recycling and grace flags."""

from __future__ import annotations

import importlib
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner

from taskq_core.cli import main
from taskq_core.worker import Worker
from taskq_core.worker.recycling import Recycling


@pytest.fixture
def app_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """A module defining ``app = Taskq()``: its broker comes from $TASKQ_BROKER_URL."""
    name = f"env_app_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            """
            from taskq_core import Taskq

            app = Taskq()

            @app.task(name="tests.add")
            def add(x, y):
                return x + y
            """
        )
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("TASKQ_BROKER_URL", "memory://")
    yield importlib.import_module(name)
    sys.modules.pop(name, None)


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[Worker]:
    """Workers the CLI built; ``run`` returns at once instead of consuming."""
    workers: list[Worker] = []

    class Started(Worker):
        def run(self) -> None:
            workers.append(self)

    monkeypatch.setattr("taskq_core.cli.run_worker.Worker", Started)
    return workers


def run_worker(app_module: ModuleType, *args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(
        main, ["worker", f"{app_module.__name__}:app", *args], env=env, catch_exceptions=False
    )


def test_every_option_reads_its_taskq_worker_variable(app_module, started):
    env = {
        "TASKQ_WORKER_CONCURRENCY": "16",
        "TASKQ_WORKER_QUEUES": "mail,reports",
        "TASKQ_WORKER_VISIBILITY_TIMEOUT": "60",
        "TASKQ_WORKER_SCHEDULER": "false",
        "TASKQ_WORKER_SHUTDOWN_GRACE": "7.5",
    }

    result = run_worker(app_module, env=env)

    assert result.exit_code == 0, result.output
    [worker] = started
    assert worker.concurrency == 16
    assert worker.queues == ["mail", "reports"]
    assert worker.visibility_timeout == 60.0
    assert worker.scheduler is False
    assert worker.shutdown_grace == 7.5


def test_a_flag_wins_over_its_variable(app_module, started):
    result = run_worker(app_module, "-c", "3", env={"TASKQ_WORKER_CONCURRENCY": "16"})

    assert result.exit_code == 0, result.output
    assert started[0].concurrency == 3


def test_taskq_broker_url_still_names_the_apps_broker(app_module, started):
    result = run_worker(app_module)

    assert result.exit_code == 0, result.output
    assert started[0].app.broker_url == "memory://"


def test_recycling_options_reach_the_processes_pool(app_module, started):
    env = {
        "TASKQ_WORKER_POOL": "processes",
        "TASKQ_WORKER_MAX_MEMORY_PER_CHILD": "512M",
    }

    result = run_worker(app_module, "--max-tasks-per-child", "100", env=env)

    assert result.exit_code == 0, result.output
    assert started[0].recycling == Recycling(max_tasks=100, max_memory_kib=512 * 1024)


def test_recycling_options_on_the_threads_pool_are_one_line_naming_the_flag(app_module, started):
    result = run_worker(app_module, "--max-tasks-per-child", "100")

    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: --max-tasks-per-child needs the processes pool, not threads"
    )
    assert started == []


def test_a_bad_memory_size_names_the_option(app_module, started):
    result = run_worker(app_module, env={"TASKQ_WORKER_MAX_MEMORY_PER_CHILD": "lots"})

    assert result.exit_code == 2
    assert "--max-memory-per-child" in result.output
    assert "not a size" in result.output


def test_help_names_each_variable():
    runner = CliRunner()
    worker_help = runner.invoke(main, ["worker", "--help"], terminal_width=200).output
    top_help = runner.invoke(main, ["--help"], terminal_width=200).output

    for variable in (
        "TASKQ_WORKER_CONCURRENCY",
        "TASKQ_WORKER_SHUTDOWN_GRACE",
        "TASKQ_WORKER_MAX_TASKS_PER_CHILD",
        "TASKQ_WORKER_MAX_MEMORY_PER_CHILD",
        "TASKQ_WORKER_LOG_FORMAT",
    ):
        assert variable in worker_help
    assert "TASKQ_WORKER_<OPTION>" in top_help
    assert "TASKQ_BROKER_URL" in top_help

"""The plugin loads by itself from the ``pytest11`` entry point, in a project of its own.

Each test runs pytest in a subprocess on a small project in ``tmp_path``, as an app author's
CI would: no conftest, no ``-p``, only the ``taskq_app`` ini option naming the app.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

#: Wall-clock bound on one inner pytest run; each takes about a second.
INNER_TIMEOUT = 120.0

PROJECT = {
    "pyproject.toml": """
        [tool.pytest.ini_options]
        pythonpath = ["."]
        taskq_app = "proj:app"
    """,
    "proj.py": """
        from taskq_core import Taskq

        app = Taskq("memory://")

        @app.task
        def double(n: int) -> int:
            return 2 * n
    """,
    "test_proj.py": """
        import proj

        def test_fixture_is_the_project_app_on_a_test_broker(taskq_app, taskq_worker):
            assert taskq_app is proj.app
            result = proj.double.apply_async(args=(21,), countdown=600)
            assert taskq_worker.drain() == {"acked": 1}
            assert result.get(timeout=0) == 42

        def test_app_has_its_own_broker_back_after_each_test():
            # Runs after the test above (file order): its broker was only borrowed.
            assert proj.app.broker_url == "memory://"
            assert proj.app.broker.counts("default").ready == 0
    """,
}


def run_pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=INNER_TIMEOUT,
        check=False,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name, text in PROJECT.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    return tmp_path


def test_fixtures_need_no_configuration(project):
    run = run_pytest(project)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout


def test_naming_the_plugin_with_p_as_well_loads_it_once(project):
    run = run_pytest(project, "-p", "taskq_core.testing.plugin")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout


def test_the_plugin_can_be_turned_off(project):
    run = run_pytest(project, "-p", "no:taskq_core.testing.plugin")
    assert run.returncode != 0
    assert "fixture 'taskq_app' not found" in run.stdout

"""examples/testing_project, the project docs/testing.md walks through, passes its own tests."""

from __future__ import annotations

from pathlib import Path

from .test_plugin import run_pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "testing_project"


def test_the_example_projects_tests_pass():
    run = run_pytest(EXAMPLE)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 passed" in run.stdout

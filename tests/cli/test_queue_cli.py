"""``taskq queue pause/resume`` and the paused state in ``taskq status``."""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner, Result

from taskq_core.cli import main


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def app_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """A module defining ``app`` on memory:// with a task ``tests.add`` in queue ``mail``."""
    name = f"cli_queue_app_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            """
            from taskq_core import Taskq

            app = Taskq("memory://")

            @app.task(name="tests.add", queue="mail")
            def add(x, y):
                return x + y
            """
        )
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module(name)
    yield module
    sys.modules.pop(name, None)


def test_pause_then_status_shows_the_queue_paused_and_resume_clears_it(app_module: ModuleType):
    # Given an app whose queue "mail" holds a message
    app_module.add.delay(1, 2)
    spec = f"{app_module.__name__}:app"

    # When the queue is paused from the CLI
    paused = invoke("queue", "pause", "mail", "-A", spec)

    # Then the broker has it paused and status says so, in the table and in JSON
    assert paused.exit_code == 0, paused.output
    assert "paused queue 'mail'" in paused.output
    assert app_module.app.broker.paused("mail")
    table = invoke("status", "-A", spec)
    assert "paused" in table.output
    [queue] = json.loads(invoke("status", "-A", spec, "--json").output)["queues"]
    assert (queue["queue"], queue["paused"]) == ("mail", True)

    # And after resume it runs again
    resumed = invoke("queue", "resume", "mail", "-A", spec)
    assert resumed.exit_code == 0, resumed.output
    assert not app_module.app.broker.paused("mail")
    [queue] = json.loads(invoke("status", "-A", spec, "--json").output)["queues"]
    assert queue["paused"] is False


def test_pausing_twice_says_it_was_paused_already(app_module: ModuleType):
    # Given a paused queue
    spec = f"{app_module.__name__}:app"
    invoke("queue", "pause", "mail", "-A", spec)
    # When it is paused again, then the command says nothing changed
    result = invoke("queue", "pause", "mail", "-A", spec)
    assert result.exit_code == 0
    assert "already paused" in result.output


def test_an_invalid_queue_name_is_one_line(app_module: ModuleType):
    # Given a name that cannot be a queue, when it is paused, then one line says why
    result = invoke("queue", "pause", "no{braces}", "-A", f"{app_module.__name__}:app")
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "no{braces}" in result.output

"""``taskq periodic list``: each schedule with its next fire and its last fire from the broker."""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
import uuid
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from taskq_core.cli import main

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path
    from types import ModuleType


@pytest.fixture
def periodic_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """A module defining ``app`` (memory://, a fake clock) with two periodic schedules."""
    name = f"periodic_app_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            """
            from taskq_core import FakeClock, Taskq
            from taskq_memory import MemoryBroker

            # 2023-11-14T22:14:00Z, on a minute boundary
            clock = FakeClock(1_700_000_040.0)
            app = Taskq(MemoryBroker(clock=clock))

            @app.periodic(every=30)
            @app.task(name="tests.ping")
            def ping():
                return "pong"

            @app.periodic(cron="0 9 * * *", tz="Europe/Paris", name="morning-report")
            def report():
                return "report"
            """
        )
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module(name)
    yield module
    sys.modules.pop(name, None)


def test_periodic_list_shows_next_and_last_fire(periodic_module: ModuleType) -> None:
    # Given one schedule that fired (its tick claimed in the broker) and one that never did
    app = periodic_module.app
    ping = app.periodic_schedules["tests.ping every=30s"]
    tick = 1_700_000_040.0
    assert app.broker.claim_tick(ping.message(tick), schedule=ping.key, tick=tick)
    spec = f"{periodic_module.__name__}:app"
    # When the schedules are listed, as JSON and as a table
    listed = CliRunner().invoke(main, ["periodic", "list", "-A", spec, "--json"])
    table = CliRunner().invoke(main, ["periodic", "list", "-A", spec])
    # Then each shows its next fire, and its last fire as the broker recorded it
    assert listed.exit_code == 0, listed.output
    rows = {row["key"]: row for row in json.loads(listed.output)}
    assert rows["tests.ping every=30s"] | {"task": "tests.ping"} == {
        "key": "tests.ping every=30s",
        "task": "tests.ping",
        "schedule": "every=30s",
        "queue": "default",
        "catch_up": "latest",
        "next_fire": "2023-11-14T22:14:30+00:00",
        "last_fire": "2023-11-14T22:14:00+00:00",
    }
    morning = rows["morning-report"]
    assert (morning["schedule"], morning["last_fire"]) == ("cron=0 9 * * * tz=Europe/Paris", None)
    assert morning["next_fire"] == "2023-11-15T08:00:00+00:00"  # 09:00 in Paris, winter
    assert table.exit_code == 0, table.output
    assert "morning-" in table.output
    assert "2023-11-14 22:14:00" in table.output


def test_periodic_list_of_a_bad_app_spec_is_one_line() -> None:
    result = CliRunner().invoke(main, ["periodic", "list", "-A", "no_such_module_xyz:app"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: cannot import 'no_such_module_xyz': No module named 'no_such_module_xyz'"
    ]


def test_worker_help_offers_no_scheduler() -> None:
    result = CliRunner().invoke(main, ["worker", "--help"])
    assert "--no-scheduler" in result.output

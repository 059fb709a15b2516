"""``taskq revoke ID [--terminate]`` and the expired/revoked totals of ``taskq status``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from .test_cli import app_module, assert_one_line_error, invoke, runner

if TYPE_CHECKING:
    from types import ModuleType

    from click.testing import CliRunner

__all__ = ["app_module", "runner"]


def test_revoke_of_a_queued_task_removes_it(runner: CliRunner, app_module: ModuleType) -> None:
    # Given a queued task
    handle = app_module.add.delay(1, 2)

    # When it is revoked from the command line (no queue named)
    result = invoke(runner, "revoke", handle.id, "-A", f"{app_module.__name__}:app")

    # Then it is gone, its result says REVOKED, and status counts it
    assert result.exit_code == 0, result.output
    assert f"{handle.id}: revoked" in result.output
    assert handle.status == "REVOKED"
    status = invoke(runner, "status", "-A", f"{app_module.__name__}:app", "--json")
    [queue] = json.loads(status.output)["queues"]
    assert (queue["ready"], queue["revoked"]) == (0, 1)


def test_revoke_with_terminate_of_a_running_task_says_its_worker_was_told(
    runner: CliRunner, app_module: ModuleType
) -> None:
    # Given a task a worker holds
    handle = app_module.add.delay(1, 2)
    assert app_module.app.broker.reserve(["default"], worker_id="w1", lease=30.0)

    # When it is revoked with --terminate
    result = invoke(
        runner, "revoke", handle.id, "--terminate", "-A", f"{app_module.__name__}:app", "--json"
    )

    # Then the outcome is "running", and the worker is asked to stop it
    assert json.loads(result.output) == {"id": handle.id, "outcome": "running"}
    asked = app_module.app.broker.wait_terminations("w1", ["default"], timeout=0)
    assert asked == [handle.id]


def test_revoke_of_an_unknown_id_is_one_line(runner: CliRunner, app_module: ModuleType) -> None:
    result = invoke(
        runner, "revoke", "no-such-id", "-q", "default", "-A", f"{app_module.__name__}:app"
    )
    assert_one_line_error(result, "no-such-id", "'default'")

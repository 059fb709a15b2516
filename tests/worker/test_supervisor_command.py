"""The supervised worker processes' command line, and the supervisor's restart delays.

The processes themselves are tested for real in ``tests/crash/test_supervisor.py``; here, what
each one is told to run: the user's ``taskq worker`` options again, with ``--processes 1``, a
name and ports of its own.
"""

from __future__ import annotations

import pytest

from taskq_core.cli import main
from taskq_core.worker.supervisor import Backoff
from taskq_core.worker.supervisor_child import (
    CHILD_MODULE,
    child_argv,
    child_environment,
    worker_command,
)


def context(args: list[str]):  # type: ignore[no-untyped-def]
    """The ``taskq worker`` context that parsing ``args`` gives (no app is imported)."""
    command = main.commands["worker"]
    return command.make_context("worker", args)


def test_command_line_values_are_passed_on_and_processes_is_one() -> None:
    ctx = context(
        ["app:app", "--processes", "4", "-c", "16", "--pool", "processes", "--no-scheduler"]
    )
    argv = worker_command(ctx, 0)
    assert argv[0] == "worker"
    assert argv[-1] == "app:app"
    assert _value(argv, "--processes") == "1"
    assert _value(argv, "--concurrency") == "16"
    assert _value(argv, "--pool") == "processes"
    assert "--no-scheduler" in argv
    assert "--scheduler" not in argv


def test_defaults_and_variables_are_left_to_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    # A variable reaches the process through the environment it inherits.
    monkeypatch.setenv("TASKQ_WORKER_CONCURRENCY", "3")
    monkeypatch.setenv("TASKQ_WORKER_PROCESSES", "2")
    ctx = context(["app:app"])
    assert ctx.params["processes"] == 2
    assert worker_command(ctx, 1) == ["worker", "--processes", "1", "app:app"]


def test_each_process_gets_its_own_ports_and_name() -> None:
    ports = ["--metrics-port", "9100", "--health-port", "8000"]
    ctx = context(["app:app", "--processes", "3", *ports, "--name", "billing"])
    for index in range(3):
        argv = worker_command(ctx, index)
        assert _value(argv, "--metrics-port") == str(9100 + index)
        assert _value(argv, "--health-port") == str(8000 + index)
        assert _value(argv, "--name") == f"billing-{index}"


def test_converted_values_are_given_back_in_a_form_the_option_accepts() -> None:
    ctx = context(["app:app", "--max-memory-per-child", "2M", "--visibility-timeout", "12.5"])
    argv = worker_command(ctx, 0)
    again = context(argv[1:])
    assert again.params["max_memory_per_child"] == 2048
    assert again.params["visibility_timeout"] == 12.5


def test_the_process_runs_the_child_module() -> None:
    argv = child_argv(context(["app:app", "--processes", "2"]), 0)
    assert argv[1:3] == ["-m", CHILD_MODULE]
    assert argv[3:] == ["worker", "--processes", "1", "app:app"]


def test_the_broker_url_reaches_the_process_by_its_environment_not_its_command_line() -> None:
    # A command line is readable by every local user (ps, /proc/PID/cmdline): no password there.
    url = "redis://:s3cret@127.0.0.1:6379/0"
    ctx = context(["app:app", "--processes", "2", "--broker", url])
    argv = child_argv(ctx, 0)
    assert not any("s3cret" in part for part in argv)
    assert "--broker" not in argv
    assert child_environment(ctx) == {"TASKQ_WORKER_BROKER": url}
    assert context(argv[4:]).params["broker"] is None  # the process reads the variable


def test_no_broker_flag_leaves_the_environment_alone() -> None:
    assert child_environment(context(["app:app", "--processes", "2"])) == {}


def test_restart_delay_doubles_with_quick_deaths_up_to_the_longest() -> None:
    backoff = Backoff(first_seconds=0.5, longest_seconds=4.0)
    assert [backoff.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert backoff.delay(10_000) == 4.0


def _value(argv: list[str], flag: str) -> str:
    assert argv.count(flag) == 1, argv
    return argv[argv.index(flag) + 1]

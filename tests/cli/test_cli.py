"""The ``taskq`` command: a user's mistake is one clear line and exit status 1, no traceback."""

from __future__ import annotations

import datetime as dt
import gc
import importlib
import json
import os
import re
import subprocess
import sys
import textwrap
import tomllib
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import click
import pytest
from click.testing import CliRunner, Result

from taskq_core import ConfigurationError
from taskq_core.cli import main
from taskq_core.cli.run_worker import flag_names
from taskq_core.worker import Worker

from ..support.waiting import wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import ModuleType

    from taskq_memory import MemoryBroker


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(main, list(args), catch_exceptions=False)


def assert_one_line_error(result: Result, *fragments: str) -> None:
    """Exit status 1, one ``Error: ...`` line containing every fragment, no traceback."""
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture
def app_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """A module in the working directory defining ``app`` on memory:// and a task ``tests.add``."""
    name = f"cli_app_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            """
            from taskq_core import Taskq

            app = Taskq("memory://")
            not_an_app = 42

            @app.task(name="tests.add")
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


def bury(broker: MemoryBroker, count: int, queue: str = "default") -> list[str]:
    """Send ``count`` messages of tests.add to ``queue``, move them to DEAD; return their ids."""
    from taskq_core import Message

    ids = []
    for n in range(count):
        message = Message.build(task="tests.add", args=(n, n), queue=queue)
        broker.send(message)
        [delivery] = broker.reserve([queue], worker_id="cli-test", lease=30.0)
        broker.dead(delivery, reason=f"broken {n}\nTraceback ...")
        ids.append(message.id)
    return ids


def test_demo_runs_and_reports_outcomes_matching_its_plan(runner: CliRunner):
    # Given the demo asked for 30 tasks
    # When it runs
    result = invoke(runner, "demo", "--tasks", "30")
    assert result.exit_code == 0, result.output
    text = result.output

    # Then the outcome table agrees with the plan it printed: reports fail once each, cards fail
    # until their retries run out, the unregistered task dies, and everything else succeeds
    def planned(pattern: str) -> tuple[int, ...]:
        match = re.search(pattern, text)
        assert match, f"plan line {pattern!r} missing from:\n{text}"
        return tuple(int(group) for group in match.groups())

    (total,) = planned(r"What happened \((\d+) tasks")
    (reports,) = planned(r"(\d+) x demo\.fetch_report: fails once")
    cards, card_retries = planned(r"(\d+) x demo\.charge_card: always fails, dies after (\d+)")
    (unregistered,) = planned(r"(\d+) x demo\.not_registered")
    outcomes = {
        name: int(count)
        for name, count in re.findall(
            r"^\W*(succeeded|retried|dead)\b[^\d\n]*(\d+)\W*$", text, re.M
        )
    }
    dead = cards + unregistered
    assert total == 30
    assert outcomes == {
        "succeeded": total - dead,
        "retried": reports + cards * card_retries,
        "dead": dead,
    }
    assert "unknown task 'demo.not_registered'" in text
    # And its chord's callback ran once, with the members' results in call order
    assert "chord: demo.total of 5 adds -> 20, members [0, 2, 4, 6, 8]" in text


def test_status_with_an_unknown_scheme_is_one_line(runner: CliRunner):
    # Given a URL no installed backend serves
    # When status is asked for it, then one line names the installed schemes
    result = invoke(runner, "status", "--broker", "nope://x")
    assert_one_line_error(result, "nope", "memory", "redis")


def test_status_with_unreachable_redis_is_one_line(runner: CliRunner):
    # Given a Redis URL where nothing listens
    # When status is asked for it, then one line says it cannot be reached
    result = invoke(runner, "status", "--broker", "redis://127.0.0.1:1")
    assert_one_line_error(result, "127.0.0.1:1")


def test_status_without_any_broker_is_one_line(runner: CliRunner, monkeypatch):
    # Given no --broker, no -A and no TASKQ_BROKER_URL
    monkeypatch.delenv("TASKQ_BROKER_URL", raising=False)

    # When status runs, then one line says what to give
    assert_one_line_error(invoke(runner, "status"), "--broker")


def test_status_json_is_valid_json(runner: CliRunner):
    # Given an empty memory broker, when status is asked for JSON, then it parses
    result = invoke(runner, "status", "--broker", "memory://", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"queues": [], "workers": []}


def test_status_of_an_apps_broker_shows_its_counts(runner: CliRunner, app_module):
    # Given an app whose queue holds two READY messages
    app_module.add.delay(1, 2)
    app_module.add.delay(3, 4)

    # When status reads the app's broker
    result = invoke(runner, "status", "-A", f"{app_module.__name__}:app", "--json")

    # Then the counts are there
    assert result.exit_code == 0, result.output
    [queue] = json.loads(result.output)["queues"]
    assert (queue["queue"], queue["ready"]) == ("default", 2)


def test_status_table_lists_queues(runner: CliRunner, app_module):
    # Given an app with a READY message, when status prints its table, then the queue is in it
    app_module.add.delay(1, 2)
    result = invoke(runner, "status", "-A", f"{app_module.__name__}:app")
    assert result.exit_code == 0, result.output
    assert re.search(r"default\W+1\W+0\W+0\W+0", result.output)


def test_worker_with_a_missing_module_is_one_line(runner: CliRunner):
    # Given a module that does not exist, when a worker is started for it, then one line
    assert_one_line_error(invoke(runner, "worker", "nosuchmodule:app"), "nosuchmodule")


def test_worker_with_an_attribute_that_is_not_an_app_is_one_line(runner: CliRunner, app_module):
    # Given a module attribute that is not a Taskq app
    # When a worker is started for it, then one line says so
    result = invoke(runner, "worker", f"{app_module.__name__}:not_an_app")
    assert_one_line_error(result, "not a taskq app")


def test_worker_with_an_unknown_broker_scheme_is_one_line(runner: CliRunner, app_module):
    # Given a good app and a broker URL nobody serves
    # When a worker is started with it, then one line names the scheme
    result = invoke(runner, "worker", f"{app_module.__name__}:app", "--broker", "nope://x")
    assert_one_line_error(result, "nope")


def test_worker_with_a_bad_queue_name_is_one_line(runner: CliRunner, app_module):
    # Given a queue name with a space on the command line
    # When a worker is started with it, then one line names the bad queue
    result = invoke(runner, "worker", f"{app_module.__name__}:app", "-Q", "bad name")
    assert_one_line_error(result, "invalid queue name 'bad name'")


def test_dead_commands_on_an_empty_broker(runner: CliRunner):
    # Given an empty memory broker, when each DEAD command runs, then it succeeds with nothing
    listed = invoke(runner, "dead", "list", "--broker", "memory://", "--json")
    requeued = invoke(runner, "dead", "requeue", "--broker", "memory://", "--json")
    purged = invoke(runner, "dead", "purge", "--broker", "memory://", "--json")

    assert [r.exit_code for r in (listed, requeued, purged)] == [0, 0, 0]
    assert json.loads(listed.output) == []
    assert json.loads(requeued.output) == {"requeued": 0}
    assert json.loads(purged.output) == {"purged": 0}


def test_dead_list_shows_ids_tasks_and_reasons(runner: CliRunner, app_module):
    # Given two DEAD messages in the app's broker
    ids = bury(app_module.app.broker, 2)

    # When they are listed as JSON
    result = invoke(runner, "dead", "list", "-A", f"{app_module.__name__}:app", "--json")

    # Then both are there, most recent first, with their reasons
    assert result.exit_code == 0, result.output
    letters = json.loads(result.output)
    assert [letter["id"] for letter in letters] == ids[::-1]
    assert letters[0]["reason"].startswith("broken 1")


def test_dead_list_table_shows_the_first_line_of_each_reason(runner: CliRunner, app_module):
    # Given a DEAD message whose reason has a traceback under its first line
    bury(app_module.app.broker, 1)

    # When the table is printed, then the first line is shown and the traceback is not
    result = invoke(runner, "dead", "list", "-A", f"{app_module.__name__}:app")
    assert result.exit_code == 0, result.output
    assert "broken 0" in result.output
    assert "Traceback" not in result.output


def test_dead_requeue_of_one_id_moves_only_it(runner: CliRunner, app_module):
    # Given two DEAD messages
    broker = app_module.app.broker
    first, _second = bury(broker, 2)

    # When one of them is requeued by id
    result = invoke(
        runner, "dead", "requeue", "-A", f"{app_module.__name__}:app", "--id", first, "--json"
    )

    # Then only it is READY again
    assert json.loads(result.output) == {"requeued": 1}
    counts = broker.counts("default")
    assert (counts.ready, counts.dead) == (1, 1)


def test_dead_purge_deletes_dead_messages(runner: CliRunner, app_module):
    # Given two DEAD messages, when DEAD is purged, then both are gone
    broker = app_module.app.broker
    bury(broker, 2)
    result = invoke(runner, "dead", "purge", "-A", f"{app_module.__name__}:app")
    assert result.exit_code == 0, result.output
    assert "purged 2 dead message(s)" in result.output
    assert broker.counts("default").dead == 0


def test_purge_deletes_ready_and_scheduled_messages(runner: CliRunner, app_module):
    # Given a READY and a SCHEDULED message
    app_module.add.delay(1, 2)
    app_module.add.apply_async((3, 4), countdown=3600)

    # When the queue is purged
    result = invoke(
        runner, "purge", "-A", f"{app_module.__name__}:app", "--queue", "default", "--json"
    )

    # Then both are gone
    assert json.loads(result.output) == {"purged": 2}
    counts = app_module.app.broker.counts("default")
    assert (counts.ready, counts.scheduled) == (0, 0)


def test_worker_with_heartbeats_too_rare_for_the_lease_is_one_line(runner: CliRunner, app_module):
    # Given a heartbeat interval longer than half the visibility timeout
    # When a worker is started with it, then one line explains the rule
    result = invoke(
        runner,
        "worker",
        f"{app_module.__name__}:app",
        "--heartbeat-interval",
        "20",
        "--visibility-timeout",
        "30",
    )
    assert_one_line_error(result, "--heartbeat-interval", "half of --visibility-timeout")


def test_worker_with_an_empty_queue_list_is_one_line(runner: CliRunner, app_module):
    # Given -Q with no queue names in it
    # When a worker is started with it, then it refuses instead of consuming nothing forever
    result = invoke(runner, "worker", f"{app_module.__name__}:app", "-Q", ",")
    assert_one_line_error(result, "at least one queue")


def test_worker_with_queue_weights_in_strict_order_is_one_line(runner: CliRunner, app_module):
    # Given weighted queues and the strict order, which cannot honour weights
    # When a worker is started with both, then one line says weights need the fair order
    spec = f"{app_module.__name__}:app"
    result = invoke(runner, "worker", spec, "-Q", "high:3,low", "--queue-order", "strict")
    assert_one_line_error(result, "need the fair queue order")


def test_worker_with_an_empty_module_name_is_one_line(runner: CliRunner):
    # Given ":app", a spec with no module, when a worker is started for it, then one line
    assert_one_line_error(invoke(runner, "worker", ":app"), "name the module")


def test_worker_with_a_file_name_hints_to_drop_the_py(runner: CliRunner, app_module):
    # Given the app's file name instead of its module name
    result = invoke(runner, "worker", f"{app_module.__name__}.py:app")

    # Then one line says how to write it
    assert_one_line_error(result, "drop the .py", f"{app_module.__name__}:app")


class StartedWorkers(list[Worker]):
    """Workers the CLI built and started (``run`` returns at once instead of consuming)."""

    def __init__(self) -> None:
        super().__init__()
        #: ``gc.get_freeze_count()`` when each worker started to run.
        self.frozen: list[int] = []

    def worker_class(self) -> type[Worker]:
        started = self

        class Started(Worker):
            def run(self) -> None:
                started.append(self)
                started.frozen.append(gc.get_freeze_count())

        return Started


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> Iterator[StartedWorkers]:
    workers = StartedWorkers()
    monkeypatch.setattr("taskq_core.cli.run_worker.Worker", workers.worker_class())
    yield workers
    gc.unfreeze()  # the command froze this test process's heap


def test_worker_keeps_its_start_up_objects_out_of_garbage_collections(
    runner: CliRunner, app_module, started: StartedWorkers
):
    gc.unfreeze()
    result = invoke(runner, "worker", f"{app_module.__name__}:app")
    assert result.exit_code == 0, result.output
    assert started.frozen[0] > 0


def test_worker_with_a_short_lease_alone_gets_a_fitting_heartbeat(
    runner: CliRunner, app_module, started: StartedWorkers
):
    # Given only a 3 s visibility timeout on the command line
    # When a worker is started with it
    result = invoke(runner, "worker", f"{app_module.__name__}:app", "--visibility-timeout", "3")

    # Then it starts, renewing its leases at least twice per lease
    assert result.exit_code == 0, result.output
    [worker] = started
    assert worker.visibility_timeout == 3
    assert 0 < worker.heartbeat_interval * 2 <= 3


def test_worker_with_the_default_lease_keeps_the_default_heartbeat(
    runner: CliRunner, app_module, started: StartedWorkers
):
    result = invoke(runner, "worker", f"{app_module.__name__}:app")
    assert result.exit_code == 0, result.output
    assert started[0].heartbeat_interval == 5.0


@pytest.mark.parametrize("flag", ["--visibility-timeout", "--heartbeat-interval"])
@pytest.mark.parametrize("value", ["0", "-1", "nan"])
def test_worker_with_a_duration_that_is_not_positive_is_one_line(
    runner: CliRunner, app_module, flag: str, value: str
):
    # Given a zero, negative or NaN duration
    # When a worker is started with it, then one line names the flag and the rule
    result = invoke(runner, "worker", f"{app_module.__name__}:app", flag, value)
    assert_one_line_error(result, f"{flag} must be > 0")


def test_dead_list_shows_every_queue_whole_ids_args_and_when_each_died(
    runner: CliRunner, app_module
):
    # Given DEAD messages in two queues
    broker = app_module.app.broker
    [first] = bury(broker, 1, queue="default")
    [second] = bury(broker, 1, queue="emails")

    # When DEAD is listed with no --queue, in an 80-column terminal
    result = invoke(runner, "dead", "list", "-A", f"{app_module.__name__}:app")

    # Then both queues' messages are there, with whole ids, their arguments and when they died
    assert result.exit_code == 0, result.output
    letters = {letter.id: letter for q in ("default", "emails") for letter in broker.list_dead(q)}
    for message_id in (first, second):
        [line] = [line for line in result.output.splitlines() if message_id in line]
        died = dt.datetime.fromtimestamp(letters[message_id].died_at, tz=dt.UTC)
        assert died.strftime("%Y-%m-%d %H:%M:%S") in line
    assert "emails" in result.output
    assert result.output.count("args: [0, 0]") == 2


def test_dead_list_of_one_queue_leaves_the_others_out(runner: CliRunner, app_module):
    broker = app_module.app.broker
    [kept] = bury(broker, 1, queue="emails")
    [left_out] = bury(broker, 1, queue="default")
    result = invoke(runner, "dead", "list", "-A", f"{app_module.__name__}:app", "-q", "emails")
    assert kept in result.output
    assert left_out not in result.output


def test_dead_show_prints_the_full_reason_and_traceback(runner: CliRunner, app_module):
    # Given a DEAD message whose reason holds a traceback, in a queue other than default
    [message_id] = bury(app_module.app.broker, 1, queue="emails")

    # When it is shown by id alone
    result = invoke(runner, "dead", "show", message_id, "-A", f"{app_module.__name__}:app")

    # Then the whole reason is printed, traceback included, with the call's arguments
    assert result.exit_code == 0, result.output
    assert "broken 0\nTraceback ..." in result.output
    assert re.search(r"^args:\s+\[0, 0\]$", result.output, re.M)
    assert re.search(r"^queue:\s+emails$", result.output, re.M)


def test_dead_show_of_an_unknown_id_is_one_line(runner: CliRunner, app_module):
    result = invoke(runner, "dead", "show", "no-such-id", "-A", f"{app_module.__name__}:app")
    assert_one_line_error(result, "no DEAD message with id 'no-such-id'")


def test_demo_without_the_memory_backend_is_one_line_with_the_fix():
    # Given a process where no backend plugin loads (as with taskq-memory not installed)
    env = {**os.environ, "TASKQ_DISABLE_PLUGIN_AUTOLOAD": "1"}

    # When the demo runs on its default memory:// broker
    result = subprocess.run(
        [sys.executable, "-c", "from taskq_core.cli import main; main()", "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    # Then one line says what to install, or how to run it on Redis instead
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "pip install taskq-memory" in lines[0]
    assert "--broker redis://" in lines[0]


def test_installing_taskq_core_brings_the_memory_backend_its_defaults_use():
    # Given taskq-core's declared dependencies
    pyproject = Path(__file__).resolve().parents[2] / "taskq_core" / "pyproject.toml"
    requires = tomllib.loads(pyproject.read_text())["project"]["dependencies"]

    # Then memory:// (Taskq()'s and taskq demo's default) comes with it
    assert any(re.match(r"taskq-memory\b", requirement) for requirement in requires)


def test_taskq_errors_inside_a_command_name_its_flags_not_python_parameters(runner: CliRunner):
    # Given a command whose library call words its error with Python parameter names
    @click.command()
    @click.option("--visibility-timeout", type=float)
    @click.option("--name")
    def start(visibility_timeout: float | None, name: str | None) -> None:
        with flag_names(click.get_current_context()):
            raise ConfigurationError("visibility_timeout must exceed 1; the name stays a word")

    # When it fails, then the one line names the flag and leaves ordinary words alone
    result = runner.invoke(start, ["--visibility-timeout", "1"])
    assert_one_line_error(result, "--visibility-timeout must exceed 1; the name stays a word")


ENTRY = "from taskq_core.cli import main; main()"
QUIET_APP = """
from pathlib import Path
from taskq_core import Taskq

app = Taskq("memory://")

@app.task
def touch(path: str) -> int:
    Path(path).write_text("ran")
    return 7

touch.delay(str(Path(__file__).with_name("ran")))
"""


@pytest.mark.parametrize(("options", "task_lines"), [((), 0), (("--loglevel", "INFO"), 1)])
def test_worker_logs_its_banner_always_and_task_lines_at_info(
    tmp_path: Path, options: tuple[str, ...], task_lines: int
):
    # Given an app module that queues one task on its in-process broker when imported
    (tmp_path / "quiet_app.py").write_text(QUIET_APP)

    # When a real worker process runs it, with the default log level or with INFO
    worker = subprocess.Popen(
        [sys.executable, "-c", ENTRY, "worker", "quiet_app:app", *options],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )

    def ran() -> bool:
        assert worker.poll() is None, "the worker exited before running the task"
        return (tmp_path / "ran").exists()

    try:
        wait_until(ran, what="the task ran")
    finally:
        worker.terminate()
        _, stderr = worker.communicate(timeout=30)

    # Then the banner is there either way, and the per-task line only at INFO
    assert "worker.banner: taskq" in stderr
    assert stderr.count("succeeded in") == task_lines, stderr


@pytest.mark.parametrize("command", ["worker", "dashboard"])
def test_every_option_of_worker_and_dashboard_says_what_it_does(command: str) -> None:
    # A new user reads `taskq worker --help`: an option shown without a sentence explains nothing.
    options = [p for p in main.commands[command].params if isinstance(p, click.Option)]
    assert [p.opts for p in options if not p.help and not p.hidden] == []


def every_command(group: click.Group, path: str = "taskq") -> Iterator[tuple[str, click.Command]]:
    """Each command under ``group`` with its full name, subcommands included."""
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from every_command(command, f"{path} {name}")
        else:
            yield f"{path} {name}", command


def test_every_command_and_option_says_what_it_does_in_help() -> None:
    undocumented = [
        f"{name} {'/'.join(param.opts)}"
        for name, command in every_command(main)
        for param in command.params
        if isinstance(param, click.Option) and not param.hidden and not param.help
    ]
    assert undocumented == []
    assert [name for name, command in every_command(main) if not command.help] == []

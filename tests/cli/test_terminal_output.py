"""``taskq status``, ``dead list``, ``dead requeue``/``purge`` and ``demo``, on a terminal or not.

Off a terminal (CliRunner's output is a pipe) the output is plain, greppable lines; with rich's
``FORCE_COLOR`` and ``COLUMNS`` it is what a terminal of that width shows.
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
import uuid
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner, Result

from taskq_core import Message
from taskq_core import terminal as terminal_module
from taskq_core.cli import main

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path
    from types import ModuleType

    from taskq_memory import MemoryBroker

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
BOX = re.compile(r"[┏┃━│└┡╇]")
WIDTH = 80


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def plain(monkeypatch: pytest.MonkeyPatch) -> None:
    """Standard output is a pipe and nothing in the environment claims a terminal."""
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def tty(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich treats standard output as an 80-column terminal."""
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("COLUMNS", str(WIDTH))


@pytest.fixture
def app_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """A module defining ``app`` on memory://, importable as MODULE:app."""
    name = f"term_app_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            """
            from taskq_core import Taskq

            app = Taskq("memory://")
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    module = __import__(name)
    yield module
    sys.modules.pop(name, None)


def invoke(runner: CliRunner, app_module: ModuleType, *args: str) -> Result:
    result = runner.invoke(
        main, [*args, "-A", f"{app_module.__name__}:app"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result


def bury(broker: MemoryBroker, count: int, queue: str = "default") -> list[str]:
    ids = []
    for n in range(count):
        message = Message.build(task="tests.add", args=(n, n), queue=queue)
        broker.send(message)
        [delivery] = broker.reserve([queue], worker_id="term-test", lease=30.0)
        broker.dead(delivery, reason=f"broken {n}\nTraceback ...")
        ids.append(message.id)
    return ids


def screen(result: Result) -> str:
    return ANSI.sub("", result.output)


@pytest.mark.usefixtures("plain")
def test_status_off_a_terminal_is_plain_columns(runner, app_module):
    # Given two READY messages and one DEAD in the app's broker
    app_module.app.broker.send(Message.build(task="t", queue="default"))
    app_module.app.broker.send(Message.build(task="t", queue="default"))
    bury(app_module.app.broker, 1, queue="emails")

    # When status prints to a pipe
    result = invoke(runner, app_module, "status")

    # Then it is one line per queue in plain columns, no box drawing and no escape codes
    lines = result.output.splitlines()
    header = ["queue", "ready", "scheduled", "processing", "dead", "expired", "revoked", "state"]
    assert lines[0].split() == header
    assert lines[1].split() == ["default", "2", "0", "0", "0", "0", "0", "running"]
    assert lines[2].split() == ["emails", "0", "0", "0", "1", "0", "0", "running"]
    assert "alive workers (heartbeat within 60 s): 0" in lines
    assert not BOX.search(result.output)
    assert not ANSI.search(result.output)


@pytest.mark.usefixtures("tty")
def test_status_on_a_terminal_is_a_table(runner, app_module):
    app_module.app.broker.send(Message.build(task="t", queue="default"))
    result = invoke(runner, app_module, "status")
    text = screen(result)
    assert ANSI.search(result.output)
    assert re.search(
        r"┃\s*queue\s*┃\s*ready\s*┃\s*scheduled\s*┃\s*processing\s*┃\s*dead\s*┃\s*expired\s*┃"
        r"\s*revoked\s*┃",
        text,
    )
    assert re.search(r"│ default\s*│\s*1 │\s*0 │\s*0 │\s*0 │\s*0 │\s*0 │", text)
    assert max(len(line) for line in text.splitlines()) <= WIDTH


@pytest.mark.usefixtures("tty")
def test_status_on_a_terminal_marks_a_paused_queue_in_its_name(runner, app_module):
    app_module.app.broker.send(Message.build(task="t", queue="emails"))
    app_module.app.broker.pause("emails")
    text = screen(invoke(runner, app_module, "status"))
    assert re.search(r"│ emails \(paused\)\s*│\s*1 │", text)
    assert max(len(line) for line in text.splitlines()) <= WIDTH


@pytest.mark.usefixtures("tty")
def test_status_json_on_a_terminal_is_still_json(runner, app_module):
    app_module.app.broker.send(Message.build(task="t", queue="default"))
    result = invoke(runner, app_module, "status", "--json")
    assert json.loads(result.output)["queues"][0]["ready"] == 1


@pytest.mark.usefixtures("plain")
def test_dead_list_off_a_terminal_is_three_greppable_lines_per_message(runner, app_module):
    [message_id] = bury(app_module.app.broker, 1)
    result = invoke(runner, app_module, "dead", "list")
    [line] = [line for line in result.output.splitlines() if message_id in line]
    assert line.split()[:3] == [message_id, "default", "tests.add"]
    after = result.output.splitlines()
    at = after.index(line)
    assert after[at + 1 : at + 3] == ["  args: [0, 0]", "  reason: broken 0"]
    assert not BOX.search(result.output)


@pytest.mark.usefixtures("tty")
def test_dead_list_on_an_80_column_terminal_is_a_table_with_whole_ids(runner, app_module):
    # Given DEAD messages in two queues
    ids = bury(app_module.app.broker, 1) + bury(app_module.app.broker, 1, queue="emails")

    # When they are listed on an 80-column terminal
    text = screen(invoke(runner, app_module, "dead", "list"))

    # Then a table fits the width, each id is whole on one line, and each reason's first line
    # is there without its traceback
    assert BOX.search(text)
    assert max(len(line) for line in text.splitlines()) <= WIDTH
    for message_id in ids:
        assert re.search(rf"│ {message_id} │", text)
    assert text.count("broken 0") == 2
    assert "emails" in text
    assert "Traceback" not in text


@pytest.mark.usefixtures("tty")
def test_dead_requeue_on_a_terminal_shows_progress_and_moves_everything(
    runner, app_module, monkeypatch
):
    # Given five DEAD messages and a requeue chunk of two, so the bar has three steps
    broker = app_module.app.broker
    bury(broker, 5)
    monkeypatch.setattr(terminal_module, "REQUEUE_CHUNK", 2)

    # When DEAD is requeued on a terminal
    result = invoke(runner, app_module, "dead", "requeue")
    text = screen(result)

    # Then the bar reached 5/5 on standard error and every message is READY again
    assert result.stdout == "requeued 5 message(s)\n"
    assert "requeueing DEAD of default" in text
    assert "5/5" in text
    assert "requeued 5 message(s)" in text
    counts = broker.counts("default")
    assert (counts.dead, counts.ready) == (0, 5)


@pytest.mark.usefixtures("tty")
def test_dead_requeue_of_given_ids_on_a_terminal_moves_only_them(runner, app_module, monkeypatch):
    broker = app_module.app.broker
    ids = bury(broker, 5)
    monkeypatch.setattr(terminal_module, "REQUEUE_CHUNK", 2)
    args = [arg for message_id in ids[:3] for arg in ("--id", message_id)]
    result = invoke(runner, app_module, "dead", "requeue", *args, "--json")
    assert json.loads(result.output) == {"requeued": 3}
    assert {letter.id for letter in broker.list_dead("default")} == set(ids[3:])


@pytest.mark.usefixtures("plain")
def test_dead_requeue_off_a_terminal_prints_only_the_count(runner, app_module, monkeypatch):
    bury(app_module.app.broker, 5)
    monkeypatch.setattr(terminal_module, "REQUEUE_CHUNK", 2)
    result = invoke(runner, app_module, "dead", "requeue")
    assert result.output == "requeued 5 message(s)\n"


@pytest.mark.usefixtures("tty")
def test_purges_on_a_terminal_report_what_they_removed(runner, app_module):
    broker = app_module.app.broker
    bury(broker, 2)
    broker.send(Message.build(task="t", queue="default"))
    assert "purged 2 dead message(s)" in screen(invoke(runner, app_module, "dead", "purge"))
    assert "purged 1 message(s)" in screen(invoke(runner, app_module, "purge", "-q", "default"))
    counts = broker.counts("default")
    assert (counts.dead, counts.ready) == (0, 0)


@pytest.mark.usefixtures("tty")
def test_demo_on_a_terminal_shows_a_progress_bar(runner):
    result = runner.invoke(main, ["demo", "--tasks", "20"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    text = screen(result)
    assert re.search(r"running tasks .*━.* (\d+)/\1", text)

"""``--log-format json``: one JSON object per line, tagged with the task that emitted it."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
from collections.abc import Callable, Iterator

import pytest

from taskq_core import Taskq, Worker
from taskq_core.monitoring.logs import configure, unconfigure
from taskq_memory import MemoryBroker

from ..support.waiting import WAIT_TIMEOUT


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """JSON logging of this process into a buffer; undone afterwards."""
    root = logging.getLogger()
    level = root.level
    buffer = io.StringIO()
    configure("json", "INFO", stream=buffer)
    yield buffer
    unconfigure()
    root.setLevel(level)


def records(buffer: io.StringIO) -> list[dict[str, object]]:
    """Every line written so far, each decoded as one JSON object."""
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_each_log_line_of_a_task_names_its_task_in_the_threads_pool(
    json_lines: io.StringIO, make_worker: Callable[..., Worker]
):
    # Given two tasks that log while running at the same time on two threads of one worker
    app = Taskq(MemoryBroker())
    both_running = threading.Barrier(2, timeout=WAIT_TIMEOUT)
    log = logging.getLogger("tests.task")

    @app.task(name="logs.chatty")
    def chatty(marker: str) -> None:
        log.info("before %s", marker)
        both_running.wait()
        log.info("after %s", marker)

    make_worker(app, concurrency=2)

    # When both run
    first, second = chatty.delay("one"), chatty.delay("two")
    first.get(timeout=WAIT_TIMEOUT)
    second.get(timeout=WAIT_TIMEOUT)

    # Then every line is a JSON object with time, level, logger and message
    lines = records(json_lines)
    assert lines
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)

    # And each task's lines carry its own id, name and queue, never the other task's
    for handle, marker in ((first, "one"), (second, "two")):
        mine = [
            line for line in lines if line["message"] in (f"before {marker}", f"after {marker}")
        ]
        assert len(mine) == 2
        for line in mine:
            assert line["task_id"] == handle.id
            assert (line["task_name"], line["queue"], line["level"]) == (
                "logs.chatty",
                "default",
                "INFO",
            )
            assert line["logger"] == "tests.task"

    # And lines emitted outside a task (the worker's start banner) carry no task
    outside = [line for line in lines if line["logger"] == "taskq.worker.banner"]
    assert outside
    assert all("task_id" not in line for line in outside)


def test_an_exception_is_one_line_with_its_traceback(json_lines: io.StringIO):
    try:
        raise ValueError("bad value")
    except ValueError:
        logging.getLogger("tests.errors").exception("it failed")
    [line] = records(json_lines)
    assert line["message"] == "it failed"
    assert "ValueError: bad value" in str(line["exception"])


def test_an_async_task_logs_with_its_task(
    json_lines: io.StringIO, make_worker: Callable[..., Worker]
):
    # Given an async def task that logs after an await, on the worker's event loop
    app = Taskq(MemoryBroker())
    log = logging.getLogger("tests.async")

    @app.task(name="logs.async_chatty")
    async def async_chatty() -> None:
        await asyncio.sleep(0)
        log.info("from the loop")

    make_worker(app)

    # When it runs
    handle = async_chatty.delay()
    handle.get(timeout=WAIT_TIMEOUT)

    # Then its line names it, though the coroutine ran on the loop's thread
    [line] = [line for line in records(json_lines) if line["message"] == "from the loop"]
    assert (line["task_id"], line["task_name"]) == (handle.id, "logs.async_chatty")

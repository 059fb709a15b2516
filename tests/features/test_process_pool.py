"""The ``processes`` pool: a child that dies or overruns is replaced; its task comes back or dies.

An in-process ``Worker`` with ``pool="processes"`` on a memory broker; its children are real
interpreters running ``pool_app.py``'s tasks, which leave their traces in the test's directory.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from taskq_core import TaskError, Worker
from taskq_memory import MemoryBroker

from ..support.processes import is_running
from ..support.waiting import WAIT_TIMEOUT
from . import pool_app

if TYPE_CHECKING:
    from pathlib import Path

    from ..support.recording import TaskEvents


@pytest.fixture
def pool(in_rootdir: Path, make_worker) -> Worker:
    """A one-slot processes-pool worker of ``pool_app`` on a fresh memory broker."""
    pool_app.app.use_broker(MemoryBroker())
    return make_worker(pool_app.app, pool="processes", concurrency=1)


def test_a_child_that_exits_is_replaced_and_its_task_redelivered_until_it_succeeds(
    pool: Worker, tmp_path: Path, events: TaskEvents
):
    # Given a task whose first execution kills its child with os._exit(1)
    handle = pool_app.exit_first_time.delay(str(tmp_path))

    # When the pool runs it
    value = handle.get(timeout=WAIT_TIMEOUT)

    # Then it was delivered twice, to two different children, and the second one succeeded
    assert value == "survived"
    assert handle.status == "SUCCESS"
    assert events.started[handle.id] == 2
    first_child, second_child = pool_app.runs(str(tmp_path))
    assert first_child != second_child

    # And the worker itself lives on and keeps running tasks
    assert pool_app.whoami.delay().get(timeout=WAIT_TIMEOUT) not in (os.getpid(), first_child)


def test_a_task_that_always_kills_its_child_goes_to_dead_after_max_deliveries(
    pool: Worker, tmp_path: Path, events: TaskEvents
):
    # Given a task that kills its child every time, with max_deliveries=2
    handle = pool_app.always_exit.delay(str(tmp_path))

    # When the pool runs it
    with pytest.raises(TaskError) as raised:
        handle.get(timeout=WAIT_TIMEOUT)

    # Then it ran twice and lies in DEAD, with a FAILURE result saying its worker was lost
    assert raised.value.exc_type == "LeaseExpired"
    assert len(pool_app.runs(str(tmp_path))) == 2
    assert events.started[handle.id] == 2
    [letter] = pool_app.app.broker.list_dead("default")
    assert letter.message.id == handle.id


def test_a_child_past_its_hard_time_limit_is_killed_and_the_task_buried(
    pool: Worker, tmp_path: Path
):
    # Given a task sleeping in one C call past its 0.5 s hard limit, not retried
    handle = pool_app.stuck.delay(str(tmp_path))

    # When the pool runs it
    with pytest.raises(TaskError) as raised:
        handle.get(timeout=WAIT_TIMEOUT)

    # Then its child was killed and the task went to DEAD for its time limit
    [child] = pool_app.runs(str(tmp_path))
    assert raised.value.exc_type == "TimeLimitExceeded"
    [letter] = pool_app.app.broker.list_dead("default")
    assert f"time limit (0.5s) exceeded; child {child} killed" in letter.reason
    assert not is_running(child)


def test_a_soft_time_limit_raises_inside_the_child_which_can_clean_up(pool: Worker, tmp_path: Path):
    # Given a task sleeping past its 0.3 s soft limit, catching it and returning a marker
    handle = pool_app.tidy.delay(str(tmp_path))

    # When the pool runs it
    # Then the sleep was interrupted by SoftTimeLimitExceeded and the marker is the result
    assert handle.get(timeout=WAIT_TIMEOUT) == "cleaned up"

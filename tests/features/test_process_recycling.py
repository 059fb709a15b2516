"""The processes pool replaces a child after N tasks, or when it holds too much memory.

A one-slot pool runs tasks one after another; each reports the pid of the child that ran it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from taskq_core import ConfigurationError, Taskq, Worker
from taskq_core.worker.options import parse_memory_kib
from taskq_memory import MemoryBroker

from ..support.processes import is_running
from ..support.waiting import WAIT_TIMEOUT, wait_until
from . import pool_app

if TYPE_CHECKING:
    from pathlib import Path

#: The memory limit of the test, in KiB: well above a fresh child (about 40 MiB).
LIMIT_KIB = 128 * 1024


@pytest.fixture
def one_slot(in_rootdir: Path, make_worker):
    pool_app.app.use_broker(MemoryBroker())
    return lambda **limits: make_worker(pool_app.app, pool="processes", concurrency=1, **limits)


def test_a_child_is_replaced_after_max_tasks_per_child(one_slot):
    # Given a one-slot pool whose children run two tasks each
    one_slot(max_tasks_per_child=2)

    # When five tasks run one after another
    pids = [pool_app.whoami.delay().get(timeout=WAIT_TIMEOUT) for _ in range(5)]

    # Then each child ran two of them, and the replaced children exited
    first, second, third = pids[0], pids[2], pids[4]
    assert pids == [first, first, second, second, third]
    assert len({first, second, third}) == 3
    wait_until(lambda: not is_running(first) and not is_running(second))


def test_a_child_over_max_memory_per_child_is_replaced_before_the_next_task(one_slot):
    # Given a pool whose children may hold 128 MiB
    one_slot(max_memory_per_child=LIMIT_KIB)
    pid, resident = pool_app.whoami_and_memory.delay().get(timeout=WAIT_TIMEOUT)
    assert resident < LIMIT_KIB  # a fresh child is well under it

    # When a task under the limit runs, the child stays
    assert pool_app.whoami_and_memory.delay().get(timeout=WAIT_TIMEOUT)[0] == pid

    # When a task leaks past the limit, it still finishes in that child
    leaked_in, grown = pool_app.grow_to.delay(LIMIT_KIB + 16 * 1024).get(timeout=WAIT_TIMEOUT)
    assert (leaked_in, grown > LIMIT_KIB) == (pid, True)

    # Then the next task runs in a fresh child, and the leaking one is gone
    next_pid, next_resident = pool_app.whoami_and_memory.delay().get(timeout=WAIT_TIMEOUT)
    assert next_pid != pid
    assert next_resident < LIMIT_KIB
    wait_until(lambda: not is_running(pid))


def test_without_limits_one_child_runs_every_task(one_slot):
    one_slot()

    pids = {pool_app.whoami.delay().get(timeout=WAIT_TIMEOUT) for _ in range(4)}

    assert len(pids) == 1


@pytest.mark.parametrize("pool", ["threads", "solo"])
@pytest.mark.parametrize("limit", ["max_tasks_per_child", "max_memory_per_child"])
def test_recycling_limits_need_the_processes_pool(pool, limit):
    with pytest.raises(ConfigurationError, match=f"{limit} needs the processes pool"):
        Worker(Taskq("memory://"), pool=pool, **{limit: 10})


@pytest.mark.parametrize(
    ("text", "kib"),
    [
        ("200000", 200000),
        ("512M", 512 * 1024),
        ("512MiB", 512 * 1024),
        ("2g", 2 << 20),
        ("64KB", 64),
    ],
)
def test_memory_sizes_are_kib_or_carry_a_unit(text, kib):
    assert parse_memory_kib(text) == kib


@pytest.mark.parametrize("text", ["", "0", "12T", "1.5G", "-3M", "lots"])
def test_a_bad_memory_size_is_refused(text):
    with pytest.raises(ValueError, match=r"size|at least"):
        parse_memory_kib(text)

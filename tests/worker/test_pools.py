"""The ``threads`` pool: how many threads run tasks, and that blocked tasks get more of them.

The pool is driven directly with a ``consume`` of the test's own (no broker, no worker), so each
test decides exactly what is reserved when. Deliveries are stand-ins: the pool only passes them
to ``run``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest

from taskq_core.worker.pools import ThreadPool

from ..support.waiting import wait_until

#: Long enough that no delivery waits it out during a test.
NEVER = 3600.0


class Batches:
    """A ``consume`` that hands out the given batches, then blocks until the test ends."""

    def __init__(self, *batches: list[Any]) -> None:
        self.pending = list(batches)
        self.stopping = threading.Event()

    def __call__(self) -> list[Any] | None:
        if self.pending:
            return self.pending.pop(0)
        self.stopping.wait()
        return None


@pytest.fixture
def make_pool() -> Iterator[Callable[..., ThreadPool]]:
    started: list[tuple[ThreadPool, Batches, threading.Event]] = []

    def make(
        concurrency: int,
        run: Callable[[Any], None],
        batches: Batches | None = None,
        **options: Any,
    ) -> ThreadPool:
        closing = threading.Event()
        pool = ThreadPool(concurrency, run, closing=closing, consume=batches, **options)
        started.append((pool, batches or Batches(), closing))
        return pool

    yield make
    for pool, batches, closing in started:
        batches.stopping.set()
        closing.set()
        assert pool.close(5.0)


def test_short_tasks_run_on_the_thread_that_ends_them(make_pool: Callable[..., ThreadPool]) -> None:
    """A batch of quick tasks is not spread over idle threads: the running thread takes each."""
    ran: list[int] = []
    done = threading.Event()

    def run(item: int) -> None:
        ran.append(threading.get_ident())
        if len(ran) == 100:
            done.set()

    make_pool(8, run, Batches(list(range(100))), wake_after=NEVER)
    assert done.wait(10)
    assert len(set(ran)) == 1


@pytest.mark.parametrize("concurrency", [4, 16])
def test_blocked_tasks_get_a_thread_each(
    make_pool: Callable[..., ThreadPool], concurrency: int
) -> None:
    """Tasks that block until all of them run at once get ``concurrency`` threads."""
    all_running = threading.Barrier(concurrency, timeout=10)
    finished = threading.Semaphore(0)

    def run(item: int) -> None:
        all_running.wait()  # raises BrokenBarrierError after 10 s unless all run at once
        finished.release()

    make_pool(concurrency, run, Batches(list(range(concurrency))), wake_after=0.001)
    for _ in range(concurrency):
        assert finished.acquire(timeout=15)


def test_queued_deliveries_get_threads_after_the_consumer_role_moved(
    make_pool: Callable[..., ThreadPool],
) -> None:
    """Blocked tasks of a second batch still get idle threads while another thread reserves."""
    all_running = threading.Barrier(4, timeout=10)
    finished = threading.Semaphore(0)

    def run(item: int) -> None:
        all_running.wait()
        finished.release()

    make_pool(4, run, Batches([0], [1, 2, 3]), wake_after=0.001)
    for _ in range(4):
        assert finished.acquire(timeout=15)


def test_the_pool_keeps_reserving_while_every_slot_runs(
    make_pool: Callable[..., ThreadPool],
) -> None:
    """With its one slot busy, the pool consumes batch after batch (the prefetch fills up)."""
    release = threading.Event()
    batches = Batches([0], [1], [2], [3])

    def run(item: int) -> None:
        if item == 0:
            release.wait(60)

    make_pool(1, run, batches, wake_after=NEVER)
    # (well before task 0 could give up waiting for its release)
    wait_until(lambda: not batches.pending, timeout=10, what="every batch consumed meanwhile")
    release.set()


def test_never_more_than_concurrency_at_once(make_pool: Callable[..., ThreadPool]) -> None:
    running, most = 0, 0
    lock = threading.Lock()
    release = threading.Event()
    ended = threading.Semaphore(0)

    def run(item: int) -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        release.wait(10)
        with lock:
            running -= 1
        ended.release()

    make_pool(3, run, Batches(list(range(10))), wake_after=0.0)
    wait_until(lambda: most == 3, what="three tasks running")
    release.set()
    for _ in range(10):
        assert ended.acquire(timeout=10)
    assert most == 3


def test_submitted_deliveries_start_at_once(make_pool: Callable[..., ThreadPool]) -> None:
    """Without a consumer (the processes pool), each submitted delivery gets an idle thread."""
    all_running = threading.Barrier(3, timeout=10)
    finished = threading.Semaphore(0)

    def run(item: int) -> None:
        all_running.wait()
        finished.release()

    pool = make_pool(3, run, wake_after=NEVER)
    for item in range(3):
        pool.submit(cast(Any, item))
    for _ in range(3):
        assert finished.acquire(timeout=15)


def test_take_pending_returns_what_no_thread_started(
    make_pool: Callable[..., ThreadPool],
) -> None:
    release = threading.Event()
    started = threading.Event()

    def run(item: int) -> None:
        started.set()
        release.wait(10)

    pool = make_pool(1, run, Batches([0, 1, 2]), wake_after=NEVER)
    assert started.wait(10)
    assert cast(list[Any], pool.take_pending()) == [1, 2]
    release.set()

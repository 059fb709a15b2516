"""Unique tasks from the producer's side: one message per key while it is held."""

from __future__ import annotations

import pytest

from taskq_core import Taskq
from taskq_core.broker import BaseBroker
from taskq_core.errors import ConfigurationError

from ..support.waiting import wait_until


def test_a_unique_task_sent_twice_returns_the_first_handle(app: Taskq, broker: BaseBroker):
    # Given a task unique for a minute
    @app.task(name="features.report", queue="reports", unique_for=60)
    def report(user: int, *, full: bool = False) -> None: ...

    # When the same call is sent twice (keyword order aside)
    first = report.apply_async((42,), {"full": True})
    second = report.apply_async([42], {"full": True})

    # Then the second is the first's handle, marked a duplicate, and one message is queued
    assert second == first
    assert (first.duplicate, second.duplicate) == (False, True)
    assert broker.counts("reports").ready == 1
    # And other arguments are another key
    assert not report.delay(7).duplicate
    assert broker.counts("reports").ready == 2


def test_a_call_level_unique_key_makes_any_task_unique(app: Taskq, broker: BaseBroker):
    # Given a plain task
    @app.task(name="features.sync", queue="sync")
    def sync(user: int) -> None: ...

    # When two calls with different arguments share a unique key
    first = sync.apply_async((1,), unique_key="user:42", unique_for=60)
    second = sync.apply_async((2,), unique_key="user:42", unique_for=60)

    # Then the second wrote nothing
    assert second.id == first.id
    assert second.duplicate
    assert broker.counts("sync").ready == 1


def test_the_key_is_free_again_once_the_task_succeeded(app: Taskq, make_worker):
    # Given a unique task run by a worker
    @app.task(name="features.once", queue="once", unique_for=600)
    def once() -> str:
        return "ran"

    first = once.delay()
    make_worker(app, queues=["once"])
    assert first.get(timeout=30) == "ran"

    # When it is sent again after it succeeded (the ack follows the result closely)
    # Then a new message is written
    wait_until(lambda: not once.delay().duplicate)


def test_unique_options_are_checked_at_the_producer(app: Taskq):
    # Given a plain task and a unique one
    @app.task(name="features.plain")
    def plain() -> None: ...

    @app.task(name="features.unique", unique_for=60)
    def unique() -> None: ...

    # When a key comes without a TTL, or a unique task goes through delay_many,
    # Then each is refused in one line
    with pytest.raises(ConfigurationError, match="unique_for"):
        plain.apply_async(unique_key="k")
    with pytest.raises(ConfigurationError, match="delay_many"):
        unique.delay_many([()])
    with pytest.raises(ConfigurationError, match="unique_until"):
        app.task(name="features.bad", unique_for=1, unique_until="never")(lambda: None)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="unique_for"):
        app.task(name="features.bad2", unique_for=0)(lambda: None)

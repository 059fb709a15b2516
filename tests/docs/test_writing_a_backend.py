"""The minimal backend of docs/writing-a-backend.md passes the core conformance suite.

The listing is taken from the page itself, so the page cannot drift from the contract. On it,
a feature that needs a capability the backend lacks fails with one line naming it.
"""

from __future__ import annotations

import asyncio
import re
import sys
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from taskq_core import MissingCapability, Taskq
from taskq_core.broker import BaseBroker
from taskq_core.capabilities import ALL_CAPABILITIES
from taskq_core.testing import CoreConformance
from taskq_core.worker import Worker

if TYPE_CHECKING:
    from taskq_core.clock import Clock, FakeClock
    from taskq_core.testing.conformance import BrokerFactory

PAGE = Path(__file__).resolve().parents[2] / "docs" / "writing-a-backend.md"
#: The first line of the listing on the page.
LISTING_START = "# src/taskq_tiny/broker.py"


def _load_listing() -> types.ModuleType:
    """The page's minimal backend, run as a module of its own."""
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.DOTALL)
    [source] = [block for block in blocks if block.startswith(LISTING_START)]
    module = types.ModuleType("taskq_tiny_broker")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, str(PAGE), "exec"), module.__dict__)
    return module


TINY = _load_listing()


def tiny_broker(clock: Clock | None = None) -> BaseBroker:
    """A fresh broker of the page's listing."""
    broker: BaseBroker = TINY.TinyBroker(clock=clock)
    return broker


class TestTheMinimalBackendOfTheDocs(CoreConformance):
    @pytest.fixture
    def make_broker(self) -> BrokerFactory:
        return tiny_broker


def test_the_minimal_backend_offers_no_capability() -> None:
    assert not any(issubclass(TINY.TinyBroker, c) for c in ALL_CAPABILITIES)


def test_a_worker_runs_tasks_on_the_minimal_backend(clock: FakeClock) -> None:
    # Given an app on the minimal backend and a task that fails once
    app = Taskq(tiny_broker(clock))
    calls: list[int] = []

    @app.task(max_retries=2, retry_backoff=False, default_retry_delay=0.0)
    def flaky(n: int) -> int:
        calls.append(n)
        if len(calls) == 1:
            raise ValueError("first try")
        return n

    flaky.delay(7)
    # When a worker drains the queue
    outcomes = app.run_until_idle()
    # Then the task ran twice and was acked, with no capability used
    assert calls == [7, 7]
    assert outcomes["acked"] == 1
    assert app.broker.counts("default").ready == 0


@pytest.mark.parametrize(
    ("feature", "call"),
    [
        ("result.get()", lambda app, task: task.delay().get(timeout=0)),
        ("revoke", lambda app, task: app.revoke("some-id")),
        ("pausing a queue", lambda app, task: app.pause_queue("default")),
        ("adelay() and aget()", lambda app, task: app.async_producer()),
        ("a unique send of task", lambda app, task: task.apply_async(unique_key="k", unique_for=9)),
        ("a chain, group, chord or link=", lambda app, task: (task.s() | task.s()).delay()),
        ("a chain, group, chord or link=", lambda app, task: task.apply_async(link=task.s())),
    ],
)
def test_a_feature_without_its_capability_is_one_clear_error(
    feature: str, call: Any, clock: FakeClock
) -> None:
    # Given an app on the minimal backend
    app = Taskq(tiny_broker(clock))

    @app.task
    def noop() -> None:
        return None

    # When a feature that needs a capability is used, then one line names it
    with pytest.raises(MissingCapability) as caught:
        call(app, noop)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(feature)
    assert " needs a backend with " in message
    assert "the tiny backend (TinyBroker) has none" in message


def test_the_dashboard_refuses_a_backend_without_inspection(clock: FakeClock) -> None:
    pytest.importorskip("starlette")
    from taskq_core.dashboard.app import create_app

    with pytest.raises(MissingCapability, match=r"^the dashboard needs a backend with inspection"):
        create_app(tiny_broker(clock))


def test_adelay_without_an_asyncio_producer_writes_nothing(clock: FakeClock) -> None:
    # Given an app on the minimal backend, which has no asyncio producer
    app = Taskq(tiny_broker(clock))

    @app.task
    def noop() -> None:
        return None

    # When a task is sent from a coroutine, then one line names the missing capability
    with pytest.raises(MissingCapability, match=r"^adelay\(\) and aget\(\) needs a backend with"):
        asyncio.run(noop.adelay())
    # And nothing was written
    assert app.broker.queues() == []


def test_a_worker_with_a_rate_limited_task_refuses_to_start_without_a_rate_limiter(
    clock: FakeClock,
) -> None:
    # Given an app with a rate-limited task on the minimal backend
    app = Taskq(tiny_broker(clock))

    @app.task(rate_limit="10/s")
    def limited() -> None:
        return None

    # When a worker starts, then it refuses with one line naming the task
    with pytest.raises(MissingCapability, match=r"rate_limit= of task '.*limited' needs a "):
        Worker(app, queues=["default"]).start()


def test_a_worker_with_periodic_schedules_refuses_to_start_without_ticks(
    clock: FakeClock,
) -> None:
    # Given an app with a periodic task on the minimal backend, which cannot claim ticks
    app = Taskq(tiny_broker(clock))

    @app.periodic(every=60)
    def report() -> None:
        return None

    # When a worker that runs the schedules starts, then it refuses with one line
    with pytest.raises(MissingCapability, match=r"^periodic schedules needs a backend with"):
        Worker(app, queues=["default"]).start()

    # And a worker told not to run them starts
    worker = Worker(app, queues=["default"], scheduler=False)
    worker.start()
    assert worker.stop(10)


def test_status_on_a_backend_without_a_worker_registry_does_not_claim_no_worker_runs() -> None:
    # Given the minimal backend, which keeps no list of workers
    from click.testing import CliRunner

    from taskq_core import register_backend
    from taskq_core.cli import main

    register_backend("tiny-status", lambda url, **options: tiny_broker())

    # When `taskq status` reads it
    result = CliRunner().invoke(main, ["status", "--broker", "tiny-status://"])

    # Then it says workers are not listed there, rather than "alive workers: 0"
    assert result.exit_code == 0, result.output
    assert "alive workers" not in result.output
    assert "workers: not listed (the tiny backend keeps no worker registry)" in result.output

"""taskq's pytest plugin: fixtures for testing apps, and those the conformance suite shares.

Installed with taskq-core, pytest loads it by itself (entry point ``pytest11``); ``-p
no:taskq_core.testing.plugin`` turns it off. Every fixture is an ordinary pytest fixture, so a
project's own fixture of the same name (in a ``conftest.py``) wins over it.

For app authors (docs/testing.md):

* ``taskq_app``: the app under test, on a fresh broker for each test. The app named by the
  ``taskq_app`` ini option (``MODULE:APP``) is pointed at that broker for the test and back
  afterwards; without the option it is a new, empty :class:`~taskq_core.Taskq`.
* ``taskq_worker``: runs the app's tasks on the test's own thread; ``taskq_worker.drain()``
  returns once nothing is READY or SCHEDULED, jumping over countdowns and retry delays.
* ``taskq_clock`` (the broker's :class:`~taskq_core.FakeClock`), ``taskq_broker_url``
  (``memory://``; override it to test against Redis) and ``taskq_broker``.

For backend authors (the conformance suite, docs/writing-a-backend.md): ``clock``,
``queue_name`` and ``make_message``.
"""

from __future__ import annotations

import collections
import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

import pytest

from taskq_core.backends import connect
from taskq_core.clock import FakeClock
from taskq_core.schemas import Message
from taskq_core.worker.drain import DEFAULT_MAX_TASKS, run_until_idle

if TYPE_CHECKING:
    from taskq_core.app import Taskq
    from taskq_core.broker import BaseBroker

#: The ini option naming the project's app, ``MODULE:APP``.
APP_INI = "taskq_app"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ``taskq_app`` ini option."""
    parser.addini(
        APP_INI,
        "MODULE:APP of the app the taskq_app fixture points at a test broker (default: a new app)",
        default="",
    )


class InlineWorker:
    """The ``taskq_worker`` fixture: runs an app's tasks on the calling thread.

    Each delivery goes through the worker's own execution path (retry policy, DEAD, results,
    hooks), one at a time; there is nothing to start or stop.
    """

    def __init__(self, app: Taskq) -> None:
        self.app = app
        #: Outcome counts over every drain of this worker (``acked``, ``retried``, ``dead``...).
        self.stats: collections.Counter[str] = collections.Counter()

    def drain(
        self, queues: str | Sequence[str] | None = None, *, max_tasks: int = DEFAULT_MAX_TASKS
    ) -> collections.Counter[str]:
        """Run tasks until none is READY or SCHEDULED; returns this drain's outcome counts.

        See :func:`taskq_core.worker.drain.run_until_idle`.
        """
        outcomes = run_until_idle(self.app, queues=queues, max_tasks=max_tasks)
        self.stats.update(outcomes)
        return outcomes


@pytest.fixture
def taskq_clock() -> FakeClock:
    """The fake clock of ``taskq_broker``: time moves only by ``advance`` or a drain."""
    return FakeClock()


@pytest.fixture
def taskq_broker_url() -> str:
    """URL of the broker each test gets; override it (e.g. ``redis://...?prefix=t-...``)."""
    return "memory://"


@pytest.fixture
def taskq_broker(taskq_broker_url: str, taskq_clock: FakeClock) -> Iterator[BaseBroker]:
    """A connected broker on ``taskq_clock``, closed after the test."""
    broker = connect(taskq_broker_url, clock=taskq_clock)
    broker.connect()
    yield broker
    broker.close()


@pytest.fixture
def taskq_app(request: pytest.FixtureRequest, taskq_broker: BaseBroker) -> Iterator[Taskq]:
    """The app under test, on ``taskq_broker`` for the duration of the test."""
    from taskq_core.app import Taskq, import_app

    spec = str(request.config.getini(APP_INI)).strip()
    if not spec:
        yield Taskq(taskq_broker)
        return
    app = import_app(spec)
    with bound_to(app, taskq_broker):
        yield app


@pytest.fixture
def taskq_worker(taskq_app: Taskq) -> InlineWorker:
    """Runs ``taskq_app``'s tasks on the test's thread: ``taskq_worker.drain()``."""
    return InlineWorker(taskq_app)


@contextmanager
def bound_to(app: Taskq, broker: BaseBroker) -> Iterator[Taskq]:
    """Point ``app`` at ``broker`` for a block, then give it back its own broker untouched."""
    saved = app._broker, app._broker_url, app._connected
    app.use_broker(broker)
    try:
        yield app
    finally:
        with app._broker_lock:
            app._broker, app._broker_url, app._connected = saved


class MessageFactory(Protocol):
    """Signature of the ``make_message`` fixture."""

    def __call__(self, *, queue: str | None = None, task: str = ..., **fields: Any) -> Message:
        """Build a valid message, in the test's own queue unless ``queue`` is given."""
        ...


#: Room left in a queue name (128 characters at most) for suffixes such as ``-b``.
_QUEUE_NAME_STEM_MAX = 80


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock the test moves with ``advance``: leases expire and ETAs arrive instantly."""
    return FakeClock()


@pytest.fixture
def queue_name(request: pytest.FixtureRequest) -> str:
    """A queue name unique to this test, readable in a shared broker: ``t-<test>-<random>``.

    Backends that share one server between tests rely on it (and the names derived from it by
    appending ``-b``, ``-c``) to keep tests apart and to clean up only their own keys.
    """
    stem = re.sub(r"[^A-Za-z0-9_.\-]+", "-", request.node.name).strip("-.")
    return f"t-{stem[:_QUEUE_NAME_STEM_MAX]}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def make_message(queue_name: str) -> MessageFactory:
    """Factory of valid messages; each call numbers its message in ``args`` for readable diffs."""
    made = 0

    def make(*, queue: str | None = None, task: str = "tests.noop", **fields: Any) -> Message:
        nonlocal made
        made += 1
        fields.setdefault("args", (made,))
        return Message.build(queue=queue or queue_name, task=task, **fields)

    return make

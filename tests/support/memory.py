"""An app on an in-memory broker whose time the test moves (the ``clock`` fixture).

Folders whose tests drive time by hand import these fixtures into their conftest.
:func:`reserved_deliveries` gives real deliveries to tests of the worker's parts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from taskq_core import Taskq
from taskq_memory import MemoryBroker

if TYPE_CHECKING:
    from taskq_core import FakeClock
    from taskq_core.schemas import Delivery


@pytest.fixture
def broker(clock: FakeClock) -> MemoryBroker:
    """An empty in-memory broker reading time from the test's fake clock."""
    return MemoryBroker(clock=clock)


@pytest.fixture
def app(broker: MemoryBroker) -> Taskq:
    """An app with no tasks yet, on ``broker``."""
    return Taskq(broker)


def reserved_deliveries(count: int) -> list[Delivery]:
    """``count`` deliveries of a no-op task, reserved from a fresh memory broker."""
    app = Taskq("memory://")

    @app.task(name="t")
    def t() -> None: ...

    for _ in range(count):
        t.delay()
    return app.broker.reserve(["default"], worker_id="w", lease=60.0, limit=count, timeout=0)

"""An app on an in-memory broker whose time the test moves (the ``clock`` fixture).

Folders whose tests drive time by hand import these fixtures into their conftest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from taskq_core import Taskq
from taskq_memory import MemoryBroker

if TYPE_CHECKING:
    from taskq_core import FakeClock


@pytest.fixture
def broker(clock: FakeClock) -> MemoryBroker:
    """An empty in-memory broker reading time from the test's fake clock."""
    return MemoryBroker(clock=clock)


@pytest.fixture
def app(broker: MemoryBroker) -> Taskq:
    """An app with no tasks yet, on ``broker``."""
    return Taskq(broker)

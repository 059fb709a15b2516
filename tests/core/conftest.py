"""Fixtures of the core tests: an app on an in-memory broker whose time the test moves."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from taskq_core import Taskq
from taskq_core.plugins import plugin_manager
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


@pytest.fixture
def use_plugin() -> Iterator[Callable[[object], None]]:
    """Register plugin objects on the process-wide manager for this test only."""
    registered: list[object] = []

    def use(plugin: object) -> None:
        plugin_manager().register(plugin)
        registered.append(plugin)

    yield use
    for plugin in registered:
        plugin_manager().unregister(plugin)

"""Fixtures of the core tests: an app on an in-memory broker whose time the test moves
(``tests/support/memory.py``), and plugins registered for one test."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from taskq_core.plugins import plugin_manager

from ..support.memory import app, broker

__all__ = ["app", "broker", "use_plugin"]


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

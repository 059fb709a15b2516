"""Registers the ``memory://`` scheme with taskq (entry-point group ``taskq``).

Importing this module must stay cheap: every installed plugin is imported when the backend
registry is first used, so the broker module is imported only when a ``memory://`` URL is opened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskq_core.plugins import hookimpl

if TYPE_CHECKING:
    from taskq_core.broker import BaseBroker
    from taskq_core.hookspecs import RegisterBackend


def create_broker(url: str, **options: object) -> BaseBroker:
    """Build a :class:`~taskq_memory.MemoryBroker` for ``url`` (``memory://``)."""
    from taskq_memory.broker import MemoryBroker

    return MemoryBroker.from_url(url, **options)


@hookimpl
def taskq_register_backends(register: RegisterBackend) -> None:
    """Serve the ``memory`` scheme."""
    register("memory", create_broker)

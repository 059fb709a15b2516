"""taskq's in-process backend: ``memory://``, the broker contract without a server."""

from __future__ import annotations

from taskq_memory.broker import MemoryBroker

__all__ = ["MemoryBroker"]

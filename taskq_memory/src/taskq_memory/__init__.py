"""taskq's in-process backend: ``memory://``, the broker contract without a server."""

from __future__ import annotations

import importlib.metadata

from taskq_memory.broker import MemoryBroker

#: The installed taskq-memory distribution's version, read from its package metadata.
__version__ = importlib.metadata.version("taskq-memory")

__all__ = ["MemoryBroker", "__version__"]

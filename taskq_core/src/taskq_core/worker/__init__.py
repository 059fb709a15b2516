"""The worker: consumes queues and runs tasks; see :class:`Worker`."""

from __future__ import annotations

from taskq_core.worker.worker import POOLS, Worker

__all__ = ["POOLS", "Worker"]

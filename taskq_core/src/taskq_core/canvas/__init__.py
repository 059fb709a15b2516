"""Workflows: signatures, ``chain``, ``group`` and ``chord`` (Celery's canvas, crash-safe).

See ``docs/workflows.md``. Every follow-up of a step is written in the same atomic broker step
as that step's ack (``Workflows.ack_and_continue``).
"""

from __future__ import annotations

from taskq_core.canvas.signature import Canvas, Signature, chain, chord, group

__all__ = ["Canvas", "Signature", "chain", "chord", "group"]

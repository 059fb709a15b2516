"""What a task reports while it runs: STARTED, RETRY and progress, until its result exists.

A :class:`TaskState` is informational: the latest write wins, nothing is fenced, and it is kept
for the result TTL. ``AsyncResult.status`` reads the result first; only while there is none does
it show the state (``STARTED``, ``RETRY``), else ``PENDING``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, JsonValue

#: States a running task reports; a final result (SUCCESS, FAILURE) replaces them.
RunState = Literal["STARTED", "RETRY"]


class TaskState(BaseModel):
    """The latest report of a task that has no result yet.

    Attributes:
        id: The message id.
        status: ``STARTED`` (running; progress is reported as STARTED too) or ``RETRY``
            (failed, waiting for its next attempt).
        current: Progress so far, with ``total`` (``set_progress``); ``None`` when not reported.
        total: What ``current`` counts up to.
        meta: Any JSON the task attached to its progress.
        updated_at: When it was reported (seconds since the epoch).
    """

    model_config = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False)

    id: str
    status: RunState
    current: int | float | None = None
    total: int | float | None = None
    meta: JsonValue = None
    updated_at: float = 0.0

    @property
    def progress(self) -> dict[str, JsonValue] | None:
        """``{"current", "total", "meta"}``, or ``None`` when no progress was reported."""
        if self.current is None:
            return None
        return {"current": self.current, "total": self.total, "meta": self.meta}

    def to_json(self) -> str:
        """Encode for the broker."""
        return self.model_dump_json()

    @classmethod
    def from_json(cls, data: str | bytes) -> TaskState:
        """Decode from the broker."""
        return cls.model_validate_json(data)

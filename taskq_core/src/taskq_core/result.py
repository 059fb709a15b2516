"""Handles to sent messages."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from taskq_core.app import Taskq


class AsyncResult:
    """The handle ``delay()`` returns; ``id`` is the message id (a UUIDv7 string).

    Rebuild one from an id with ``app.AsyncResult(id)``.
    """

    __slots__ = ("app", "id", "queue")

    def __init__(self, id: str, app: Taskq | None = None, queue: str | None = None) -> None:
        self.id = id
        self.app = app
        self.queue = queue

    def __repr__(self) -> str:
        return f"<AsyncResult {self.id}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AsyncResult) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

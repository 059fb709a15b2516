"""Handles to sent messages, and waiting for their results.

``get()`` blocks in the broker (a condition for memory, a blocking list command for Redis), never
in a sleep loop, and works whether it starts before or after the task finished, for any number of
waiters at once.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Literal

from taskq_core.errors import ResultTimeout, TaskError

if TYPE_CHECKING:
    from taskq_core.app import Taskq
    from taskq_core.schemas import TaskResult

Status = Literal["PENDING", "STARTED", "RETRY", "SUCCESS", "FAILURE"]


class AsyncResult:
    """The handle ``delay()`` returns; ``id`` is the message id (a UUIDv7 string).

    Rebuild one from an id with ``app.AsyncResult(id)``.

    Attributes:
        duplicate: True when the send wrote nothing because the queue still held a message with
            this ``task_id``: the handle is that message's, and its result is the one ``get()``
            waits for.
    """

    __slots__ = ("app", "duplicate", "id", "parent", "queue")

    def __init__(
        self,
        id: str,
        app: Taskq | None = None,
        queue: str | None = None,
        *,
        duplicate: bool = False,
    ) -> None:
        self.id = id
        self.app = app
        self.queue = queue
        self.duplicate = duplicate
        #: The handle of the step before this one in a chain (a ``GroupResult`` for a chord's
        #: callback), set by the canvas when it is sent; ``None`` otherwise.
        self.parent: AsyncResult | GroupResult | None = None

    def __repr__(self) -> str:
        return f"<AsyncResult {self.id}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AsyncResult) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def _fetch(self, timeout: float | None) -> TaskResult | None:
        if self.app is None:
            raise TypeError("this AsyncResult has no app; build it with app.AsyncResult(id)")
        return self.app.broker.get_result(self.id, timeout=timeout)

    def get(self, timeout: float | None = None, *, propagate: bool = True) -> Any:
        """Wait for the task's result and return its value.

        Args:
            timeout: Seconds to wait; ``None`` waits as long as it takes.
            propagate: Raise :class:`TaskError` for a failed task (else return the error).

        Raises:
            ResultTimeout: no result within ``timeout``.
            TaskError: the task ended in DEAD; carries the remote type, message and traceback.
        """
        stored = self._fetch(timeout)
        if stored is None:
            raise ResultTimeout(f"no result for {self.id} within {timeout}s")
        if stored.status == "SUCCESS":
            return stored.value
        error = TaskError(
            stored.error_type or "Error", stored.error_message or "", stored.traceback
        )
        if propagate:
            raise error
        return error

    @property
    def status(self) -> Status:
        """The result's status once stored, else the task's report, else ``PENDING``.

        Until the result exists: ``STARTED`` or ``RETRY`` when the task reported one
        (``track_started``, ``set_progress``, a retry); ``PENDING`` otherwise (also once the
        result expired).
        """
        stored = self._fetch(0.0)
        if stored is not None:
            return stored.status
        assert self.app is not None
        state = self.app.broker.get_task_state(self.id)
        return "PENDING" if state is None else state.status

    @property
    def progress(self) -> dict[str, Any] | None:
        """The latest ``set_progress`` of the task: ``{"current", "total", "meta"}``.

        ``None`` when none was reported, or the report expired.
        """
        if self.app is None:
            raise TypeError("this AsyncResult has no app; build it with app.AsyncResult(id)")
        state = self.app.broker.get_task_state(self.id)
        return None if state is None else state.progress

    def ready(self) -> bool:
        """True once the task succeeded or failed for good."""
        return self.status in ("SUCCESS", "FAILURE")

    def successful(self) -> bool:
        """True when the task succeeded."""
        return self.status == "SUCCESS"

    def failed(self) -> bool:
        """True when the task ended in DEAD."""
        return self.status == "FAILURE"

    def forget(self) -> None:
        """Delete the stored result."""
        if self.app is not None:
            self.app.broker.forget_result(self.id)


class GroupResult:
    """The handle of a sent ``group``: one :class:`AsyncResult` per member, in call order."""

    __slots__ = ("results",)

    def __init__(self, results: list[AsyncResult | GroupResult]) -> None:
        self.results = results

    def __repr__(self) -> str:
        return f"<GroupResult of {len(self.results)}>"

    def __len__(self) -> int:
        return len(self.results)

    def __iter__(self) -> Any:
        return iter(self.results)

    def __getitem__(self, index: int) -> AsyncResult | GroupResult:
        return self.results[index]

    def get(self, timeout: float | None = None, *, propagate: bool = True) -> list[Any]:
        """Every member's value, in call order, waiting at most ``timeout`` seconds in all.

        Raises:
            ResultTimeout: not every member finished within ``timeout``.
            TaskError: a member failed (with ``propagate``; else its error is in the list).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        values = []
        for result in self.results:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            values.append(result.get(timeout=left, propagate=propagate))
        return values

    def _statuses(self) -> list[str]:
        statuses: list[str] = []
        for result in self.results:
            if isinstance(result, GroupResult):
                statuses += result._statuses()
            else:
                statuses.append(result.status)
        return statuses

    def ready(self) -> bool:
        """True once every member succeeded or failed for good."""
        return all(status in ("SUCCESS", "FAILURE") for status in self._statuses())

    def completed_count(self) -> int:
        """How many members succeeded."""
        return sum(status == "SUCCESS" for status in self._statuses())

    def successful(self) -> bool:
        """True when every member succeeded."""
        return all(status == "SUCCESS" for status in self._statuses())

    def failed(self) -> bool:
        """True when any member failed."""
        return any(status == "FAILURE" for status in self._statuses())

    def forget(self) -> None:
        """Delete every member's stored result."""
        for result in self.results:
            result.forget()

"""Handles to sent messages, and waiting for their results.

``get()`` blocks in the broker (a condition for memory, a blocking list command for Redis), never
in a sleep loop, and works whether it starts before or after the task finished, for any number of
waiters at once. ``aget()`` waits the same way without blocking the event loop (see
``taskq_core.aio``).

``AsyncResult[V]`` carries the task's return type: ``add.delay(1, 2).get()`` is an ``int`` to a
type checker when ``add`` returns one (an ``async def`` task's is the awaited type).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from taskq_core.capabilities import ResultStore
from taskq_core.errors import ResultTimeout, TaskError, TaskExpired, TaskRevoked

if TYPE_CHECKING:
    from taskq_core.app import Taskq
    from taskq_core.broker import BaseBroker
    from taskq_core.capabilities import RevokeOutcome
    from taskq_core.progress import TaskState
    from taskq_core.schemas import TaskResult

Status = Literal["PENDING", "STARTED", "RETRY", "SUCCESS", "FAILURE", "REVOKED", "EXPIRED"]
#: The statuses a task ends with: it will not change again.
FINISHED: tuple[Status, ...] = ("SUCCESS", "FAILURE", "REVOKED", "EXPIRED")

#: The value a successful task returns (``Any`` for a handle rebuilt from an id).
V = TypeVar("V")


class AsyncResult(Generic[V]):
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
        self.parent: AsyncResult[Any] | GroupResult | None = None

    def __repr__(self) -> str:
        return f"<AsyncResult {self.id}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AsyncResult) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def _bound_app(self) -> Taskq:
        """The app this handle reads results through.

        Raises:
            TypeError: the handle was built without one.
        """
        if self.app is None:
            raise TypeError("this AsyncResult has no app; build it with app.AsyncResult(id)")
        return self.app

    def _fetch(self, timeout: float | None) -> TaskResult | None:
        results = ResultStore.require(self._bound_app().broker, "result.get()")
        return results.get_result(self.id, timeout=timeout)

    def get(self, timeout: float | None = None, *, propagate: bool = True) -> V:
        """Wait for the task's result and return its value.

        Args:
            timeout: Seconds to wait; ``None`` waits as long as it takes.
            propagate: Raise :class:`TaskError` for a failed task (else return the error; the
                return type does not say so).

        Raises:
            ResultTimeout: no result within ``timeout``.
            TaskError: the task ended in DEAD; carries the remote type, message and traceback.
            TaskRevoked: the task was revoked (it did not run, or was stopped).
            TaskExpired: the message expired before it started; the task never ran.
        """
        return self._value_of(self._fetch(timeout), timeout, propagate=propagate)

    async def aget(self, timeout: float | None = None, *, propagate: bool = True) -> V:
        """``get()`` for asyncio: waits without blocking the event loop, same arguments.

        On Redis the wait is a blocking command on a ``redis.asyncio`` connection of the
        running loop; on the memory backend an ``asyncio.Event`` the result's store sets.

        Raises:
            ResultTimeout: no result within ``timeout``.
            TaskError: the task ended in DEAD (with ``propagate``).
            ConfigurationError: the backend has no asyncio producer API.
        """
        producer = self._bound_app().async_producer()
        stored = await producer.aget_result(self.id, timeout=timeout)
        return self._value_of(stored, timeout, propagate=propagate)

    def _value_of(self, stored: TaskResult | None, timeout: float | None, *, propagate: bool) -> V:
        """The value ``get()`` returns (or raises) for what the broker answered."""
        if stored is None:
            raise ResultTimeout(f"no result for {self.id} within {timeout}s")
        if stored.status == "SUCCESS":
            return stored.value  # type: ignore[return-value]  # JSON of the task's return value
        if stored.status == "REVOKED":
            raise TaskRevoked(f"task {self.id} was revoked")
        if stored.status == "EXPIRED":
            raise TaskExpired(f"task {self.id} expired before it started")
        error = TaskError(
            stored.error_type or "Error", stored.error_message or "", stored.traceback
        )
        if propagate:
            raise error
        return error  # type: ignore[return-value]  # documented: propagate=False returns it

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
        state = task_state(self.app.broker, self.id)
        return "PENDING" if state is None else state.status

    @property
    def progress(self) -> dict[str, Any] | None:
        """The latest ``set_progress`` of the task: ``{"current", "total", "meta"}``.

        ``None`` when none was reported, or the report expired.
        """
        if self.app is None:
            raise TypeError("this AsyncResult has no app; build it with app.AsyncResult(id)")
        state = task_state(self.app.broker, self.id)
        return None if state is None else state.progress

    def ready(self) -> bool:
        """True once the task succeeded, failed for good, was revoked or expired."""
        return self.status in FINISHED

    def successful(self) -> bool:
        """True when the task succeeded."""
        return self.status == "SUCCESS"

    def failed(self) -> bool:
        """True when the task ended in DEAD."""
        return self.status == "FAILURE"

    def revoke(self, *, terminate: bool = False) -> RevokeOutcome:
        """Revoke the task: it is not run, or (``terminate=True``) stopped while it runs.

        See :meth:`Taskq.revoke <taskq_core.app.Taskq.revoke>` and docs/control.md.
        """
        if self.app is None:
            raise TypeError("this AsyncResult has no app; build it with app.AsyncResult(id)")
        return self.app.revoke(self.id, queue=self.queue, terminate=terminate)

    def forget(self) -> None:
        """Delete the stored result."""
        if self.app is not None:
            ResultStore.require(self.app.broker, "result.forget()").forget_result(self.id)

    async def aforget(self) -> None:
        """``forget()`` for asyncio."""
        if self.app is not None:
            await self.app.async_producer().aforget_result(self.id)


class GroupResult:
    """The handle of a sent ``group``: one :class:`AsyncResult` per member, in call order."""

    __slots__ = ("results",)

    def __init__(self, results: list[AsyncResult[Any] | GroupResult]) -> None:
        self.results = results

    def __repr__(self) -> str:
        return f"<GroupResult of {len(self.results)}>"

    def __len__(self) -> int:
        return len(self.results)

    def __iter__(self) -> Any:
        return iter(self.results)

    def __getitem__(self, index: int) -> AsyncResult[Any] | GroupResult:
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

    async def aget(self, timeout: float | None = None, *, propagate: bool = True) -> list[Any]:
        """``get()`` for asyncio: each member awaited in turn, ``timeout`` seconds in all."""
        deadline = None if timeout is None else time.monotonic() + timeout
        values = []
        for result in self.results:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            values.append(await result.aget(timeout=left, propagate=propagate))
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
        """True once every member succeeded, failed for good, was revoked or expired."""
        return all(status in FINISHED for status in self._statuses())

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


def task_state(broker: BaseBroker, message_id: str) -> TaskState | None:
    """The task state ``broker`` keeps for ``message_id``; ``None`` without a result store."""
    return broker.get_task_state(message_id) if isinstance(broker, ResultStore) else None

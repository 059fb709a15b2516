"""Building messages from calls: a call checked against its function and encoded once.

:class:`MessageBuilding` is the part of :class:`~taskq_core.task.Task` that turns a call into a
validated :class:`~taskq_core.schemas.Message` before anything is written.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from taskq_core.arguments import CallCheck, too_big
from taskq_core.context import lineage
from taskq_core.errors import ConfigurationError, SerializationError, SignatureMismatch
from taskq_core.schemas import (
    MAX_PRIORITY,
    MIN_PRIORITY,
    Message,
    require_queue_name,
    tuples_to_lists,
)

if TYPE_CHECKING:
    from taskq_core.app import Taskq
    from taskq_core.task_options import ExecutionOptions


class MessageBuilding:
    """A task's calls as messages: signature check, priority, route, expiry and size."""

    app: Taskq
    name: str
    priority: int
    max_deliveries: int
    options: ExecutionOptions
    call_check: CallCheck
    __name__: str

    def build_messages(
        self,
        calls: Iterable[Sequence[Any] | Mapping[str, Any]],
        *,
        queue: str | None,
        priority: int | None,
        task_ids: Sequence[str] | None,
    ) -> list[Message]:
        """Validate every call of a bulk send into a ``Message`` before any is written."""
        build = self.build_message
        messages = []
        ids = iter(()) if task_ids is None else iter(task_ids)
        for call in calls:
            named = type(call) is not tuple and isinstance(call, Mapping)
            messages.append(
                build(
                    None if named else call,  # type: ignore[arg-type]
                    call if named else None,  # type: ignore[arg-type]
                    queue=queue,
                    priority=priority,
                    task_id=None if task_ids is None else next(ids, None),
                )
            )
        if task_ids is not None and len(task_ids) != len(messages):
            raise ConfigurationError(
                f"task_ids must have one id per call: {len(task_ids)} ids for {len(messages)} calls"
            )
        return messages

    def check_call(self, args: Sequence[Any] | None, kwargs: Mapping[str, Any] | None) -> None:
        """Refuse a call that does not fit the function's signature, before anything is sent.

        Raises:
            SignatureMismatch: the arguments do not fit (also a ``TypeError``).
        """
        problem = self.call_check.problem(args or (), kwargs or {})
        if problem is not None:
            raise SignatureMismatch(
                f"cannot send {self.name!r}: {problem} (it takes {self.describe_signature()})"
            )

    def build_message(
        self,
        args: Sequence[Any] | None,
        kwargs: Mapping[str, Any] | None,
        *,
        queue: str | None = None,
        priority: int | None = None,
        task_id: str | None = None,
        max_retries: int | None = None,
        headers: Mapping[str, str] | None = None,
        expires: float | None = None,
    ) -> Message:
        """Validate one call into a ``Message`` (raises ``SerializationError`` on non-JSON).

        ``expires`` is the epoch second the call expires at; ``None`` takes the task's.
        """
        if type(args) is not tuple and isinstance(args, str | bytes | Mapping):
            raise ConfigurationError(
                f"args of {self.name!r} must be a list or tuple, not {type(args).__name__}"
            )
        self.check_call(args, kwargs)
        chosen_priority = self.priority if priority is None else priority
        if not MIN_PRIORITY <= chosen_priority <= MAX_PRIORITY:
            raise ConfigurationError(
                f"priority must be {MIN_PRIORITY}-{MAX_PRIORITY}, got {chosen_priority}"
            )
        fields: dict[str, Any] = {
            "task": self.name,
            "args": tuple([tuples_to_lists(arg) for arg in args]) if args else (),
            "kwargs": tuples_to_lists(dict(kwargs)) if kwargs else {},
            "queue": require_queue_name(queue) if queue else self.app.route(self),  # type: ignore[arg-type]
            "priority": chosen_priority,
            "max_deliveries": self.max_deliveries,
            "created_at": self.app.clock.now(),
        }
        if task_id is not None:
            fields["id"] = task_id
        if max_retries is not None:
            fields["max_retries"] = max_retries
        parents = lineage()
        if headers or parents:
            fields["headers"] = {**parents, **(headers or {})}
        if expires is None and self.options.expires is not None:
            expires = fields["created_at"] + self.options.expires
        if expires is not None:
            fields["expires"] = expires
        message = Message.build(**fields)
        size = too_big(message, self.app.max_message_bytes)
        if size is not None:
            raise SerializationError(
                f"cannot enqueue task {self.name!r}: the message is {size} bytes, over the limit "
                f"of {self.app.max_message_bytes} (Taskq(max_message_bytes=...)); pass large "
                "data by reference (a path, a key, a URL) instead"
            )
        return message

    def describe_signature(self) -> str:
        """``add(x, y=1)``: the function's name and parameters (no annotations), for errors."""
        signature = self.call_check.signature
        if signature is None:
            return f"{self.__name__}(...)"
        empty = inspect.Parameter.empty
        bare = signature.replace(
            parameters=[p.replace(annotation=empty) for p in signature.parameters.values()],
            return_annotation=empty,
        )
        return f"{self.__name__}{bare}"

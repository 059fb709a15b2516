"""Building the ``Message`` of a task's call: checks, fields, and pydantic only when needed.

:class:`MessageBuilding` is the part of :class:`~taskq_core.task.Task` that turns calls into
messages before anything is written.

A call is checked (arguments a list or tuple, the function's signature, priority, queue name),
turned into fields (tuples as lists, the task's defaults, lineage headers, expiry) and into a
``Message`` whose encoded size is checked against the app's limit, all before anything is sent.

``Message.build`` validates every field with pydantic: 3 µs for a one-argument message, 10 µs
with a few keyword arguments and a list. Most calls hold only values whose exact types already
are what validation returns (``str``, ``int``, ``bool``, ``None``, finite ``float``, and
``list``/``dict`` of them with ``str`` keys), a queue name that passed
:func:`~taskq_core.schemas.check_queue_name`, and the other fields in their declared types and
ranges. For those, validation could only hand back equal values, so :func:`construct` writes
them into the model directly; anything else (a subclass, a tuple inside a value, a non-finite
float, a name never checked, an id out of bounds) goes through ``Message.build``, which
validates it and raises the same errors. Both paths give equal messages with equal
``model_fields_set``: ``tests/core/test_building.py`` compares them over many argument shapes.
A bulk send builds and checks the fields its messages share once, then each call's own.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from taskq_core.arguments import CallCheck, too_big
from taskq_core.context import lineage
from taskq_core.errors import ConfigurationError, SerializationError, SignatureMismatch
from taskq_core.schemas import (
    MAX_PRIORITY,
    MIN_PRIORITY,
    Message,
    check_queue_name,
    new_message_id,
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
    #: What the last call with the task's defaults outside a running task shared with its
    #: message: (route, priority, max_deliveries), those fields, and whether they are plain.
    default_fields: tuple[tuple[str, int, int], dict[str, Any], bool] | None = None

    def build_messages(
        self,
        calls: Iterable[Sequence[Any] | Mapping[str, Any]],
        *,
        queue: str | None,
        priority: int | None,
        task_ids: Sequence[str] | None,
    ) -> list[Message]:
        """Check every call of a bulk send into a ``Message`` before any is written."""
        messages: list[Message] = []
        ids = iter(()) if task_ids is None else iter(task_ids)
        shared: dict[str, Any] | None = None
        plain = False
        for call in calls:
            named = type(call) is not tuple and isinstance(call, Mapping)
            args, kwargs = _checked_call(
                self,
                None if named else call,  # type: ignore[arg-type]
                call if named else None,  # type: ignore[arg-type]
            )
            if shared is None:
                shared, plain = _shared_fields(self, queue, priority, None, None)
            task_id = None if task_ids is None else next(ids, None)
            messages.append(_finish(self, shared, args, kwargs, task_id, None, plain))
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
        """Check one call into a ``Message`` (raises ``SerializationError`` on non-JSON).

        ``expires`` is the epoch second the call expires at; ``None`` takes the task's.
        """
        call_args, call_kwargs = _checked_call(self, args, kwargs)
        shared, plain = _shared_fields(self, queue, priority, max_retries, headers)
        return _finish(self, shared, call_args, call_kwargs, task_id, expires, plain)

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


def _checked_call(
    task: MessageBuilding, args: Sequence[Any] | None, kwargs: Mapping[str, Any] | None
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """A call's arguments as the message holds them (tuples as lists), once they fit."""
    if type(args) is not tuple and isinstance(args, str | bytes | Mapping):
        raise ConfigurationError(
            f"args of {task.name!r} must be a list or tuple, not {type(args).__name__}"
        )
    task.check_call(args, kwargs)
    return (
        tuple([tuples_to_lists(arg) for arg in args]) if args else (),
        tuples_to_lists(dict(kwargs)) if kwargs else {},
    )


def _shared_fields(
    task: MessageBuilding,
    queue: str | None,
    priority: int | None,
    max_retries: int | None,
    headers: Mapping[str, str] | None,
) -> tuple[dict[str, Any], bool]:
    """The message fields that do not depend on the call's arguments or time.

    Also whether they are plain (:func:`plain_shared`). A call with the task's defaults
    outside a running task (the usual ``delay()``) gets the fields the task kept from its
    last such call, while its route, priority and delivery limit are the same.
    """
    parents = lineage()
    usual = queue is None and priority is None and max_retries is None and not headers
    if usual and not parents:
        key = (task.app.route(task), task.priority, task.max_deliveries)  # type: ignore[arg-type]
        kept = task.default_fields
        if kept is not None and kept[0] == key:
            return kept[1], kept[2]
    chosen_priority = task.priority if priority is None else priority
    if not MIN_PRIORITY <= chosen_priority <= MAX_PRIORITY:
        raise ConfigurationError(
            f"priority must be {MIN_PRIORITY}-{MAX_PRIORITY}, got {chosen_priority}"
        )
    fields: dict[str, Any] = {
        "task": task.name,
        "queue": require_queue_name(queue) if queue else task.app.route(task),  # type: ignore[arg-type]
        "priority": chosen_priority,
        "max_deliveries": task.max_deliveries,
    }
    if max_retries is not None:
        fields["max_retries"] = max_retries
    if headers or parents:
        fields["headers"] = {**parents, **(headers or {})}
    plain = plain_shared(fields)
    if usual and not parents:
        task.default_fields = (key, fields, plain)
    return fields, plain


def _finish(
    task: MessageBuilding,
    shared: dict[str, Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    task_id: str | None,
    expires: float | None,
    plain: bool,
) -> Message:
    """The message of one call; ``plain``: ``shared`` passed :func:`plain_shared`.

    Raises:
        SerializationError: an argument is not JSON, or the message is over the app's
            ``max_message_bytes``.
    """
    app = task.app
    fields = {**shared, "args": args, "kwargs": kwargs, "created_at": app.clock.now()}
    if "headers" in shared:  # each message owns its headers (a hook may add to them)
        fields["headers"] = dict(shared["headers"])
    if task_id is not None:
        fields["id"] = task_id
    if expires is None and task.options.expires is not None:
        expires = fields["created_at"] + task.options.expires
    if expires is not None:
        fields["expires"] = expires
    message = construct(fields) if plain and plain_call(fields) else Message.build(**fields)
    size = too_big(message, app.max_message_bytes)
    if size is not None:
        raise SerializationError(
            f"cannot enqueue task {task.name!r}: the message is {size} bytes, over the limit "
            f"of {app.max_message_bytes} (Taskq(max_message_bytes=...)); pass large "
            "data by reference (a path, a key, a URL) instead"
        )
    return message


#: Exact scalar types a JSON value keeps through validation (``float`` needs finiteness too).
_PLAIN_SCALARS = frozenset({str, int, bool, type(None)})

#: Fields a producer gives (``schema_version`` is always the default).
_GIVEN_FIELDS = frozenset(Message.model_fields) - {"schema_version"}


def plain_shared(fields: dict[str, Any]) -> bool:
    """Whether the fields every message of a send shares are exactly what validation returns.

    That is all but ``id``, ``args``, ``kwargs``, ``created_at`` and ``expires``.
    """
    if not fields.keys() <= _GIVEN_FIELDS:
        return False
    task = fields.get("task")
    if type(task) is not str or not 0 < len(task) <= 500:
        return False
    queue = fields.get("queue", "default")
    if type(queue) is not str or not _checked_queue(queue):
        return False
    priority = fields.get("priority", 0)
    if type(priority) is not int or not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        return False
    max_deliveries = fields.get("max_deliveries", 5)
    if type(max_deliveries) is not int or max_deliveries < 1:
        return False
    max_retries = fields.get("max_retries")
    if max_retries is not None and (type(max_retries) is not int or max_retries < 0):
        return False
    headers = fields.get("headers", {})
    return type(headers) is dict and all(
        type(key) is str and type(value) is str for key, value in headers.items()
    )


def plain_call(fields: dict[str, Any]) -> bool:
    """Whether ``id``, ``args``, ``kwargs``, ``created_at`` and ``expires`` are plain."""
    if "id" in fields:
        ident = fields["id"]
        if type(ident) is not str or not 0 < len(ident) <= 200:
            return False
    expires = fields.get("expires")
    return (
        plain_arguments(fields.get("args", ()), fields.get("kwargs", {}))
        and _finite_float(fields.get("created_at"))
        and (expires is None or _finite_float(expires))
    )


def plain_arguments(args: Any, kwargs: Any) -> bool:
    """Whether ``args`` (a tuple) and ``kwargs`` (a dict) hold only plain JSON values."""
    if type(args) is not tuple or type(kwargs) is not dict:
        return False
    for value in args:
        kind = type(value)
        if kind not in _PLAIN_SCALARS and not plain_json(value):
            return False
    return not kwargs or _plain_object(kwargs)


def construct(fields: dict[str, Any]) -> Message:
    """A ``Message`` holding ``fields`` as they are; only for fields checked plain above."""
    values = {
        "id": fields["id"] if "id" in fields else new_message_id(),
        "task": fields["task"],
        "args": fields.get("args", ()),
        "kwargs": fields.get("kwargs", {}),
        "queue": fields.get("queue", "default"),
        "priority": fields.get("priority", 0),
        "max_retries": fields.get("max_retries"),
        "max_deliveries": fields.get("max_deliveries", 5),
        "headers": fields.get("headers", {}),
        "created_at": fields["created_at"],
        "expires": fields.get("expires"),
        "schema_version": 1,
    }
    message = Message.__new__(Message)
    # What BaseModel.model_construct writes, without its per-field loop over defaults.
    object.__setattr__(message, "__dict__", values)
    object.__setattr__(message, "__pydantic_fields_set__", set(fields))
    object.__setattr__(message, "__pydantic_extra__", None)
    object.__setattr__(message, "__pydantic_private__", None)
    return message


def plain_json(value: Any) -> bool:
    """Whether ``value`` is JSON of exact built-in types, so validation would keep it as is."""
    kind = type(value)
    if kind in _PLAIN_SCALARS:
        return True
    if kind is float:
        return math.isfinite(value)
    if kind is list:
        return all(map(plain_json, value))
    if kind is dict:
        return _plain_object(value)
    return False


def _plain_object(value: dict[Any, Any]) -> bool:
    return all(type(key) is str and plain_json(item) for key, item in value.items())


def _finite_float(value: Any) -> bool:
    return type(value) is float and math.isfinite(value)


def _checked_queue(name: str) -> bool:
    try:
        check_queue_name(name)
    except ValueError:
        return False
    return True

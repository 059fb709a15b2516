"""Building a ``Message`` from a producer's call, without pydantic when the inputs are plain.

``Message.build`` validates every field with pydantic: 3 µs for a one-argument message, 10 µs
with a few keyword arguments and a list. Most calls hold only values whose exact types already
are what validation returns (``str``, ``int``, ``bool``, ``None``, finite ``float``, and
``list``/``dict`` of them with ``str`` keys), a queue name that passed
:func:`~taskq_core.schemas.check_queue_name`, and the other fields in their declared types and
ranges. For those, validation could only hand back equal values, so :func:`construct` writes
them into the model directly (``Task.build_message`` asks :func:`plain_shared` and
:func:`plain_call` first); anything else (a subclass, a tuple inside a value, a
non-finite float, a name never checked, an id out of bounds) goes through ``Message.build``,
which validates it and raises the same errors. Both paths give equal messages with equal
``model_fields_set``: ``tests/core/test_building.py`` compares them over many argument shapes.

A bulk send checks the fields its messages share once (:func:`plain_shared`), then only each
call's arguments (:func:`plain_arguments`) and times.
"""

from __future__ import annotations

import math
from typing import Any

from taskq_core.schemas import MAX_PRIORITY, MIN_PRIORITY, Message, check_queue_name, new_message_id

#: Exact scalar types a JSON value keeps through validation (``float`` needs finiteness too).
_PLAIN_SCALARS = frozenset({str, int, bool, type(None)})

#: Fields a producer gives (``schema_version`` is always the default).
_GIVEN_FIELDS = frozenset(Message.model_fields) - {"schema_version"}

#: Fields each call of a bulk send has of its own; the rest are shared.
PER_CALL = frozenset({"id", "args", "kwargs", "created_at", "expires"})


def plain_shared(fields: dict[str, Any]) -> bool:
    """Whether the fields other than :data:`PER_CALL` are exactly what validation returns."""
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
    """Whether the :data:`PER_CALL` fields are exactly what validation returns."""
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

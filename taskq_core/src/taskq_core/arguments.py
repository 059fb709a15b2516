"""Checking a call's arguments before it is sent: signature, JSON types and encoded size.

A call that cannot run (wrong arguments), cannot travel (a value JSON cannot hold) or is too big
for the broker is refused by ``delay()`` with one line naming the problem, before anything is
written, instead of failing later in a worker or in the broker.
"""

from __future__ import annotations

import inspect
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from taskq_core.schemas import Message

#: Default of ``Taskq(max_message_bytes=...)``: 1 MiB of encoded message. Large enough for any
#: argument list that describes work (ids, paths, small documents); small enough that a reserve
#: of ``prefetch`` messages, the broker's memory and its append-only file stay bounded. Bulk
#: data belongs in a store the task reads (a path, an object key, a database row).
DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024

#: Upper bound, in bytes, of the encoded message fields other than arguments and headers: the
#: id (200 characters at most), task name (500), queue name (128), each escaped at worst to 6
#: bytes a character, plus the field names and small numbers.
_FIELDS_BOUND = 6 * (200 + 500 + 128) + 512

_PARAMETER = inspect.Parameter


class CallCheck:
    """Whether ``args``/``kwargs`` fit a function's signature, computed once per task.

    The common call (positional arguments only, a function without ``*``-only parameters that lack
    a default) is checked by counting; anything else goes through ``Signature.bind``.
    """

    __slots__ = ("_fewest", "_most", "signature")

    def __init__(self, fn: Callable[..., Any]) -> None:
        try:
            self.signature: inspect.Signature | None = inspect.signature(fn)
        except (TypeError, ValueError):  # some builtins and C callables have none
            self.signature = None
        self._fewest: int | None = None
        self._most: float = math.inf
        if self.signature is None:
            return
        positional = (_PARAMETER.POSITIONAL_ONLY, _PARAMETER.POSITIONAL_OR_KEYWORD)
        fewest, most = 0, 0
        for parameter in self.signature.parameters.values():
            if parameter.kind in positional:
                most += 1
                fewest += parameter.default is _PARAMETER.empty
            elif parameter.kind is _PARAMETER.VAR_POSITIONAL:
                most = math.inf  # type: ignore[assignment]
            elif (
                parameter.kind is _PARAMETER.KEYWORD_ONLY and parameter.default is _PARAMETER.empty
            ):
                return  # a required keyword-only parameter: counting cannot tell
        self._fewest, self._most = fewest, most

    def problem(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> str | None:
        """Why the call does not fit, as ``Signature.bind`` says it; ``None`` when it fits."""
        if self.signature is None:
            return None
        if not kwargs and self._fewest is not None and self._fewest <= len(args) <= self._most:
            return None
        try:
            self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            return str(exc)
        return None


def non_json(args: Sequence[Any], kwargs: Mapping[str, Any]) -> str | None:
    """The first argument that JSON cannot hold, as ``args[0]: set is not JSON``; else ``None``."""
    for index, value in enumerate(args):
        found = _non_json(value, f"args[{index}]")
        if found is not None:
            return found
    for name, value in kwargs.items():
        found = _non_json(value, f"kwargs[{name!r}]")
        if found is not None:
            return found
    return None


def _non_json(value: Any, where: str) -> str | None:
    kind = type(value)
    if value is None or kind is str or kind is bool or kind is int:
        return None
    if kind is float:
        return None if math.isfinite(value) else f"{where}: {value!r} is not JSON"
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _non_json(item, f"{where}[{index}]")
            if found is not None:
                return found
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{where}: dict key {key!r} is {type(key).__name__}, not str"
            found = _non_json(item, f"{where}[{key!r}]")
            if found is not None:
                return found
        return None
    if isinstance(value, str | int | float):  # subclasses: JSON holds their plain value
        return None
    return f"{where}: {kind.__name__} is not JSON"


def too_big(message: Message, limit: int | None) -> int | None:
    """The encoded size of ``message`` in bytes when it is over ``limit``; else ``None``.

    The usual small message is passed on an upper bound of its size taken from its arguments,
    without encoding it (the broker encodes it once, when it writes it).
    """
    if limit is None:
        return None
    bound = _FIELDS_BOUND + message.max_deliveries.bit_length()
    args: tuple[Any, ...] = message.args
    for item in args:  # the common arguments inline: this runs on every send
        kind = type(item)
        if kind is int:
            bound += item.bit_length() // 3 + 4
        elif kind is str:
            bound += 6 * len(item) + 3
        else:
            bound += _size_bound(item) + 1
    if message.kwargs:
        bound += _size_bound(message.kwargs)
    if message.headers:
        bound += _size_bound(message.headers)
    if message.max_retries is not None:
        bound += message.max_retries.bit_length()
    if bound <= limit:
        return None
    size = len(message.to_json().encode())
    return size if size > limit else None


def _size_bound(value: Any) -> int:
    """At least as many bytes as the JSON of ``value`` takes (a character escapes to <= 6)."""
    kind = type(value)
    if kind is str:
        return 6 * len(value) + 2
    if kind is int:
        return int(value.bit_length()) // 3 + 3
    if kind is float or kind is bool or value is None:
        return 25
    if kind is list or kind is tuple:
        total = 2
        for item in value:
            total += _size_bound(item) + 1
        return total
    if kind is dict:
        total = 2
        for key, item in value.items():
            total += _size_bound(key) + _size_bound(item) + 2
        return total
    return 1 << 62  # never the case for a validated message's values: measure it instead

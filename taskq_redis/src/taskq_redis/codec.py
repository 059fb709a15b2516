"""Replies of the Lua scripts turned into taskq's models.

The client is built with ``decode_responses=False`` (payloads are decoded by pydantic straight
from bytes), but a caller may hand in a client that decodes; every helper accepts both.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

from pydantic_core import to_json

from taskq_core.errors import MessageDecodeError
from taskq_core.schemas import DeadLetter, Delivery, Message, TaskResult, WorkerInfo

if TYPE_CHECKING:
    from taskq_redis.keys import QueueKeys

#: State fields (lua/lib.lua) a DeadLetter is built from: reason, death time, delivery count,
#: retries, last error.
DEAD_LETTER_FIELDS = "xtdre"

#: One reserved message in a reserve.lua reply: id, token, retries, last error, payload.
RESERVED_FIELDS = 5
#: Items before the reserved messages: now, next ETA, lease deadline, the ones not to run.
RESERVE_HEADER = 4


def text(value: bytes | str | int | float | None) -> str:
    """A reply value as text ('' for a missing one); undecodable bytes are replaced, not lost."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def expires_arg(message: Message) -> str:
    """The ``expires`` argument of the send scripts: epoch seconds, or '' for never."""
    return "" if message.expires is None else repr(float(message.expires))


def optional_float(value: bytes | str | None) -> float | None:
    """A score or time field, or ``None`` when the reply holds '' or nothing."""
    value_text = text(value)
    return float(value_text) if value_text else None


#: Fields the stored form of a message always leaves out: the id and queue (the payload's hash
#: field and key say them) and ``schema_version``; others it leaves out at the values
#: ``_FULL_HEAD`` writes back, or when empty as ``Message.to_json`` does.
_ALWAYS_SKIPPED = frozenset({"id", "queue", "schema_version"})
#: Where Message's JSON starts once ``id`` is left out: ``task`` is its next field.
_TASK_OPENING = '{"task":'
#: What a stored form is put behind to give a whole message again: the id goes between the two
#: parts. A field the stored form carries itself (a priority that is not 0) comes later, and
#: the later of two equal keys is the one a JSON object holds.
_FULL_HEAD = (
    '{"id":',
    ',"queue":"%s","schema_version":1,"args":[],"priority":0,"max_deliveries":5,"task":',
)


def stored_payload(message: Message) -> str:
    """The payload the send scripts store: the message's JSON in a compact form.

    The JSON without ``{"task":`` and the closing brace, without the id and queue, and without
    the fields at the values ``full_payload`` writes back. It starts with the ``"`` of the task
    name, which no JSON object does, so readers tell it from a whole message's JSON (written by
    flows, periodic ticks, and earlier versions). A queued no-op is then about 55 bytes
    instead of 190, which keeps Redis's allocation for it at 64 bytes.

    The common message (priority 0, default max_deliveries, no max_retries, headers or
    expiry) is written from its four fields, each encoded by pydantic as the message's JSON
    encodes it: a third of the time of encoding the whole message and leaving fields out.
    """
    if (
        message.priority == 0
        and message.max_deliveries == DEFAULT_MAX_DELIVERIES
        and message.max_retries is None
        and not message.headers
        and message.expires is None
    ):
        created_at = to_json(message.created_at).decode()
        stored = to_json(message.task).decode()
        if message.args:
            stored += f',"args":{to_json(message.args).decode()}'
        if message.kwargs:
            stored += f',"kwargs":{to_json(message.kwargs).decode()}'
        return f'{stored},"created_at":{created_at}'
    return _stored_by_exclusion(message)


#: Message's default max_deliveries, which the stored form leaves out (lua/lib.lua has it too).
DEFAULT_MAX_DELIVERIES = 5


def _stored_by_exclusion(message: Message) -> str:
    """``stored_payload`` for any message: pydantic leaves the fields out."""
    skip = set(_ALWAYS_SKIPPED) | {
        name
        for name, default in (
            ("args", not message.args),
            ("priority", message.priority == 0),
            ("max_deliveries", message.max_deliveries == DEFAULT_MAX_DELIVERIES),
            ("kwargs", not message.kwargs),
            ("headers", not message.headers),
            ("max_retries", message.max_retries is None),
            ("expires", message.expires is None),
        )
        if default
    }
    encoded = message.model_dump_json(exclude=skip)
    if not encoded.startswith(_TASK_OPENING):
        return message.to_json()
    return encoded[len(_TASK_OPENING) : -1]


def full_payload(queue: str, message_id: str, payload: bytes | str) -> bytes | str:
    """A stored payload as a whole message's JSON (a whole one is returned as it is)."""
    if isinstance(payload, bytes):
        if payload[:1] != b'"':
            return payload
        opening, middle = _heads(queue)
        return b"".join((opening, _quoted(message_id).encode(), middle, payload, b"}"))
    if payload[:1] != '"':
        return payload
    return f"{_FULL_HEAD[0]}{_quoted(message_id)}{_FULL_HEAD[1] % queue}{payload}}}"


@cache
def _heads(queue: str) -> tuple[bytes, bytes]:
    """``_FULL_HEAD`` of one queue, encoded; queue names need no escaping (keys.py checks)."""
    return _FULL_HEAD[0].encode(), (_FULL_HEAD[1] % queue).encode()


def _quoted(message_id: str) -> str:
    """``message_id`` as a JSON string."""
    if '"' in message_id or "\\" in message_id or not message_id.isprintable():
        return json.dumps(message_id)
    return f'"{message_id}"'


def decode_message(keys: QueueKeys, message_id: str, payload: bytes | str) -> Message:
    """Decode a stored payload (either form) and check it belongs where it was found.

    Raises:
        MessageDecodeError: the payload is not a valid message, or names another id or queue
            (it was written behind taskq's back, and acking it would touch the wrong keys).
    """
    message = Message.from_json(full_payload(keys.queue, message_id, payload))
    if message.id != message_id or message.queue != keys.queue:
        raise MessageDecodeError(
            f"undecodable payload: stored as {keys.queue}/{message_id} but names "
            f"{message.queue}/{message.id}"
        )
    return message


class Reserved(NamedTuple):
    """One message of a reserve.lua reply, payload still undecoded.

    A named tuple: a worker builds one per reserved message, and a frozen dataclass costs
    several times as much to build.
    """

    id: str
    token: int
    retries: int
    last_error: str | None
    payload: bytes | str


@dataclass(frozen=True)
class Unrunnable:
    """A message reserve.lua leased but listed apart: it must not run (revoked or expired)."""

    id: str
    token: int
    #: 'revoked' or 'expired'
    why: str


def reserved_count(reply: Sequence[Any]) -> int:
    """How many messages a reserve.lua reply holds (decoded or not, to run or not)."""
    return (len(reply) - RESERVE_HEADER) // RESERVED_FIELDS + len(reply[3]) // 3


def reserved_items(reply: Sequence[Any]) -> list[Reserved]:
    """The messages of a reserve.lua reply to run (after its header)."""
    items = []
    for start in range(RESERVE_HEADER, len(reply), RESERVED_FIELDS):
        message_id, token, retries, last_error, payload = reply[start : start + RESERVED_FIELDS]
        items.append(
            Reserved(
                message_id.decode("utf-8", "replace")
                if type(message_id) is bytes
                else text(message_id),
                int(token),
                int(retries) if retries else 0,  # int() reads digits from bytes too
                text(last_error) if last_error else None,
                payload,
            )
        )
    return items


def unrunnable_items(reply: Sequence[Any]) -> list[Unrunnable]:
    """The messages of a reserve.lua reply that must not run (revoked or expired)."""
    flat = reply[3]
    return [
        Unrunnable(id=text(flat[i]), token=int(flat[i + 1]), why=text(flat[i + 2]))
        for i in range(0, len(flat), 3)
    ]


def delivery(
    message: Message, reserved: Reserved, worker_id: str, lease_deadline: float
) -> Delivery:
    """A Delivery; kept here so every reply-to-model conversion sits in one module.

    (Validated: with the already-validated Message instance, that costs about half of what
    ``model_construct`` does, 1.1 against 2.2 µs here.)
    """
    return Delivery(
        message=message,
        token=reserved.token,
        retries=reserved.retries,
        worker_id=worker_id,
        lease_deadline=lease_deadline,
        last_error=reserved.last_error,
    )


def dead_letter(
    keys: QueueKeys,
    message_id: str,
    payload: bytes | str,
    fields: Sequence[bytes | str | None],
) -> DeadLetter:
    """A DeadLetter from a payload and the state fields of ``DEAD_LETTER_FIELDS``."""
    reason, died_at, deliveries, retries, last_error = (text(field) for field in fields)
    payload = full_payload(keys.queue, message_id, payload)
    try:
        message: Message | None = decode_message(keys, message_id, payload)
    except MessageDecodeError:
        message = None
    return DeadLetter(
        id=message_id,
        queue=keys.queue,
        payload=text(payload),
        message=message,
        reason=reason,
        died_at=float(died_at or 0.0),
        deliveries=int(deliveries or 0),
        retries=int(retries or 0),
        last_error=last_error or None,
    )


def worker_info(raw: bytes | str, last_seen: float) -> WorkerInfo | None:
    """A WorkerInfo from its stored JSON with ``last_seen`` filled in; ``None`` if unreadable."""
    try:
        info = WorkerInfo.model_validate_json(raw)
    except ValueError:
        return None
    return info.model_copy(update={"last_seen": last_seen})


#: TaskResult fields a stored result leaves out while ``None`` (their default).
_RESULT_OPTIONAL = ("value", "error_type", "error_message", "traceback")


def stored_result(result: TaskResult) -> str:
    """What store_result.lua keeps after the expiry: a result in a compact form.

    A ``SUCCESS`` of ``None`` (a task that returned nothing) is its ``finished_at`` alone, a
    number; any other result is its JSON without the id (the key names it) and without the
    fields that are ``None``. ``result_from_stored`` reads both, and a whole result's JSON too.
    """
    if (
        result.status == "SUCCESS"
        and result.value is None
        and result.error_type is None
        and result.error_message is None
        and result.traceback is None
    ):
        return repr(float(result.finished_at))
    skip = {"id"} | {name for name in _RESULT_OPTIONAL if getattr(result, name) is None}
    return result.model_dump_json(exclude=skip)


def result_from_stored(message_id: str, stored: str) -> TaskResult:
    """The TaskResult of ``message_id`` from what ``stored_result`` wrote (or whole JSON).

    Raises:
        MessageDecodeError: ``stored`` is neither form.
    """
    try:
        if stored.startswith("{"):
            # The id goes first: a whole result's JSON names its id again, later, which wins.
            return TaskResult.from_json(f'{{"id":{_quoted(message_id)},{stored[1:]}')
        return TaskResult(id=message_id, status="SUCCESS", finished_at=float(stored))
    except ValueError:
        raise MessageDecodeError(f"undecodable result stored for {message_id}") from None

"""Wire and result models.

``Message`` is what producers write and workers read: immutable, validated once, JSON on the wire.
Wire models ignore unknown fields so an older worker tolerates a newer producer during a rolling
deploy. Mutable delivery state (delivery count, retries, owner, last error) lives in the broker,
never in the payload, so a payload is written once and never rewritten.
"""

from __future__ import annotations

import re
import time
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
)

from taskq_core.arguments import non_json
from taskq_core.errors import ConfigurationError, MessageDecodeError, SerializationError
from taskq_core.ids import new_message_id as new_message_id  # callers import it from here

# The broker's reports live in their own module; every model is imported from here.
from taskq_core.reports import HISTORY_MINUTES as HISTORY_MINUTES
from taskq_core.reports import MinuteCounts as MinuteCounts
from taskq_core.reports import QueueCounts as QueueCounts
from taskq_core.reports import QueueStats as QueueStats
from taskq_core.reports import RecoveryReport as RecoveryReport
from taskq_core.reports import WorkerInfo as WorkerInfo
from taskq_core.reports import minutes_window as minutes_window

#: Queue names become part of Redis keys inside a ``{hash tag}``, so braces, spaces and other
#: separators are refused up front rather than producing keys that land in the wrong slot.
QUEUE_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")

#: Priorities are small integers; larger runs first. Ten levels keep the Redis READY lists few.
MIN_PRIORITY = 0
MAX_PRIORITY = 9

SCHEMA_VERSION = 1

#: Message fields ``to_json`` leaves out when they are empty.
_EMPTY_SKIPPED = {"kwargs", "headers", "max_retries", "expires"}


def check_queue_name(name: str) -> str:
    """Return ``name`` if it is a valid queue name, else raise ``ValueError`` saying why."""
    if name in _VALID_QUEUE_NAMES:  # every message is checked; the names are few
        return name
    if not QUEUE_NAME_PATTERN.match(name):
        raise ValueError(
            f"invalid queue name {name!r}: use 1-128 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    if len(_VALID_QUEUE_NAMES) < _VALID_QUEUE_NAMES_MAX:
        _VALID_QUEUE_NAMES.add(name)
    return name


#: Queue names that passed :func:`check_queue_name` (bounded, so odd callers cannot grow it).
_VALID_QUEUE_NAMES: set[str] = set()
_VALID_QUEUE_NAMES_MAX = 10_000


def require_queue_name(name: str) -> str:
    """Like :func:`check_queue_name`, for configuration: raise ``ConfigurationError`` instead.

    Apps, tasks and workers name queues in code and on the command line; a bad name there is a
    user's mistake, which the CLI reports in one line only for errors under ``TaskqError``.
    """
    try:
        return check_queue_name(name)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None


QueueName = Annotated[str, AfterValidator(check_queue_name)]


def tuples_to_lists(value: Any) -> Any:
    """Tuples become lists, as JSON has no tuple (``json.dumps`` does the same); rest unchanged.

    Applied to arguments and return values, so ``return x, y`` and ``f.delay((1, 2))`` work as
    they would with the standard ``json`` module instead of being refused.
    """
    kind = type(value)
    if kind in _SCALARS:  # the usual argument: no isinstance chain, no recursion
        return value
    if isinstance(value, tuple | list):
        return [tuples_to_lists(item) for item in value]
    if isinstance(value, dict):
        return {key: tuples_to_lists(item) for key, item in value.items()}
    return value


#: Exact types ``tuples_to_lists`` returns as they are (subclasses take the general path).
_SCALARS = frozenset({str, int, float, bool, type(None)})


class Message(BaseModel):
    """One call of a task, as it travels through the broker.

    Attributes:
        id: Unique id (UUIDv7 by default); sending the same id twice is a no-op.
        task: Registered task name.
        args: Positional arguments, JSON values only.
        kwargs: Keyword arguments, JSON values only.
        queue: Queue the message lives in.
        priority: 0-9, larger runs first within a queue.
        max_retries: Per-call override of the task's retry limit; ``None`` uses the task's.
        max_deliveries: How many lost leases (worker crashes, timeouts) the message survives
            before it goes to DEAD, so a task that kills its worker cannot loop forever.
        headers: Free-form string metadata for plugins (trace ids, origin).
        created_at: When the producer built the message (seconds since the epoch).
        expires: When the message expires (seconds since the epoch): a message not started by
            then is not run and ends EXPIRED; ``None`` never expires.
        schema_version: Wire format version.
    """

    # NaN and infinity are not JSON: pydantic would write them as ``null``, so a task would
    # silently receive None. Refusing them keeps "non-JSON fails at enqueue" true for floats.
    model_config = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False)

    id: str = Field(default_factory=new_message_id, min_length=1, max_length=200)
    task: str = Field(min_length=1, max_length=500)
    args: tuple[JsonValue, ...] = ()
    kwargs: dict[str, JsonValue] = Field(default_factory=dict)
    queue: QueueName = "default"
    priority: int = Field(default=0, ge=MIN_PRIORITY, le=MAX_PRIORITY)
    max_retries: int | None = Field(default=None, ge=0)
    max_deliveries: int = Field(default=5, ge=1)
    headers: dict[str, str] = Field(default_factory=dict)
    created_at: float = Field(default_factory=time.time)
    expires: float | None = None
    schema_version: Literal[1] = 1

    def to_json(self) -> str:
        """Encode for the wire; ``from_json`` gives back an equal message.

        ``kwargs``, ``headers``, ``max_retries`` and ``expires`` are left out while empty
        (``{}``, ``{}``, ``None``, ``None``): empty is their default in every version, so any
        reader restores them. Every other field is written even at its default, so a later
        version that changes a default still reads what this one meant.
        """
        skip = _EMPTY_SKIPPED
        if self.kwargs or self.headers or self.max_retries is not None or self.expires is not None:
            skip = {
                name
                for name, empty in (
                    ("kwargs", not self.kwargs),
                    ("headers", not self.headers),
                    ("max_retries", self.max_retries is None),
                    ("expires", self.expires is None),
                )
                if empty
            }
        return self.model_dump_json(exclude=skip)

    @classmethod
    def from_json(cls, data: str | bytes) -> Message:
        """Decode from the wire; raise :class:`MessageDecodeError` with a one-line reason."""
        try:
            return cls.model_validate_json(data)
        except ValidationError as exc:
            raise MessageDecodeError(f"undecodable payload: {_summarize(exc)}") from None

    @classmethod
    def build(cls, **fields: Any) -> Message:
        """Validate a new message; raise :class:`SerializationError` naming the bad argument.

        Producers call this so a non-JSON argument fails at enqueue, before anything is written.
        """
        try:
            return cls.model_validate(fields)
        except ValidationError as exc:
            task = fields.get("task", "?")
            problem = non_json(fields.get("args") or (), fields.get("kwargs") or {})
            raise SerializationError(
                f"cannot enqueue task {task!r}: {problem or _summarize(exc)} "
                "(taskq sends JSON only: str, int, float, bool, None, list, dict with str keys)"
            ) from None


def _summarize(exc: ValidationError) -> str:
    """One line out of a pydantic error: location and message of the first problem."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "message"
    extra = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {first['msg']}{extra}"


class Delivery(BaseModel):
    """One reservation of a message: the handle ack/retry/dead/extend_lease/release take.

    Attributes:
        message: The decoded message.
        token: Fencing token, equal to the message's delivery count at reservation time. A call
            carrying a token that is no longer current (the lease was lost and the message handed
            to someone else) changes nothing and returns ``False``.
        retries: Exception retries used so far (not counting lost leases).
        worker_id: The worker holding the lease.
        lease_deadline: When the lease expires unless extended (seconds since the epoch).
        last_error: The error recorded by the last ``retry`` (``Type: message``), if any.
    """

    model_config = ConfigDict(frozen=True)

    message: Message
    token: int = Field(ge=1)
    retries: int = Field(default=0, ge=0)
    worker_id: str
    lease_deadline: float
    last_error: str | None = None

    @property
    def id(self) -> str:
        """The message id."""
        return self.message.id

    @property
    def queue(self) -> str:
        """The queue the message was reserved from."""
        return self.message.queue

    @property
    def redelivered(self) -> bool:
        """True when an earlier delivery of this message did not finish."""
        return self.token > 1


class DeadLetter(BaseModel):
    """A message in DEAD, with why it died.

    ``message`` is ``None`` when the payload could not be decoded; ``payload`` always holds the raw
    text so nothing is lost.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    queue: str
    payload: str
    message: Message | None
    reason: str
    died_at: float
    deliveries: int = 0
    retries: int = 0
    last_error: str | None = None


#: Where a message held by a broker is (an acked message is held nowhere).
MessageState = Literal["ready", "scheduled", "processing", "dead"]


class MessageInfo(BaseModel):
    """Everything a broker holds about one message, for looking a task up by id.

    ``message`` is ``None`` when the payload cannot be decoded (``payload`` keeps the text).
    The optional fields belong to one state each: ``eta`` to SCHEDULED, ``worker_id`` and
    ``lease_deadline`` to PROCESSING, ``reason`` and ``died_at`` to DEAD.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    queue: str
    state: MessageState
    payload: str
    message: Message | None
    deliveries: int = 0
    retries: int = 0
    lost_leases: int = 0
    last_error: str | None = None
    eta: float | None = None
    worker_id: str | None = None
    lease_deadline: float | None = None
    reason: str | None = None
    died_at: float | None = None


#: Result states a :class:`TaskResult` can hold (``PENDING`` is the absence of one).
ResultStatus = Literal["SUCCESS", "FAILURE", "REVOKED", "EXPIRED"]

#: Result states of a message that ended without running to its end (see docs/control.md).
EndStatus = Literal["REVOKED", "EXPIRED"]


class TaskResult(BaseModel):
    """The outcome of a task, as the result backend stores it.

    A ``SUCCESS`` carries the JSON ``value`` the task returned; a ``FAILURE`` (the message went to
    DEAD) carries the remote exception type, message and traceback, so ``AsyncResult.get()`` can
    raise an error that names them. ``REVOKED`` and ``EXPIRED`` carry nothing: the message was
    revoked, or expired before it started (docs/control.md).
    """

    model_config = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False)

    id: str
    status: ResultStatus
    value: JsonValue = None
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    finished_at: float = 0.0

    def to_json(self) -> str:
        """Encode for the result store."""
        return self.model_dump_json()

    @classmethod
    def from_json(cls, data: str | bytes) -> TaskResult:
        """Decode from the result store."""
        return cls.model_validate_json(data)

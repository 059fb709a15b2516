"""The one exception hierarchy of taskq.

Everything taskq raises on purpose derives from :class:`TaskqError`, so callers can catch one type.
Third-party exceptions (redis-py, pydantic) are translated at the boundary with ``raise ... from``;
the CLI prints ``str(error)`` of a :class:`TaskqError` as one line, so each message is written to be
read alone, without a traceback.
"""

from __future__ import annotations


class TaskqError(Exception):
    """Base class of every error taskq raises on purpose."""


class ConfigurationError(TaskqError):
    """A setting, URL or argument is wrong; fixing the input fixes it."""


class UnknownBackend(ConfigurationError):
    """No installed backend serves a URL scheme."""


class BrokerUnavailable(TaskqError):
    """The broker cannot be reached (connection refused, DNS, auth, TLS)."""


class BrokerFullError(TaskqError):
    """The broker refused a write because it is out of memory (Redis ``maxmemory``).

    Nothing of the refused call was written. Free memory (consume, purge, raise ``maxmemory``) and
    send again; a send with the same ids cannot duplicate what did get in.
    """


class SerializationError(TaskqError):
    """A message cannot be encoded to JSON, or is larger than the app's ``max_message_bytes``.

    Raised at enqueue time, before anything is written.
    """


class PartialSendError(TaskqError):
    """A bulk send stopped part way: some messages are in the queue, the rest were refused.

    Raised by ``delay_many`` (and a broker's ``send_batch``) when the broker refused a later part of
    the batch after an earlier part was written; the refusal is the ``__cause__`` (often a
    :class:`BrokerFullError`). Sending the ``unsent`` calls again with the same task ids, or the
    whole batch with the same ids, writes no duplicates.

    Attributes:
        sent: Ids the queue holds after the call (written by it, or already there), in call order.
        unsent: The other ids, in call order: refused, or not reached. After a lost connection
            (``BrokerUnavailable`` as the cause) some of them may have been written, which a
            resend with the same ids tolerates.
    """

    def __init__(self, message: str, *, sent: tuple[str, ...], unsent: tuple[str, ...]) -> None:
        super().__init__(message)
        self.sent = sent
        self.unsent = unsent


class SignatureMismatch(TaskqError, TypeError):
    """A call's arguments do not fit the task function's signature; raised by ``delay()``.

    Also a ``TypeError``, as calling the function with them would raise. Nothing was written.
    """


class UnknownTask(TaskqError):
    """A worker received a message for a task name no module registered."""


class Reject(TaskqError):
    """Raised by a ``taskq_before_send`` hook to refuse a message; nothing is written."""


class Retry(TaskqError):
    """Raised inside a task to ask for a retry, optionally after an explicit delay.

    Args:
        delay: Seconds to wait before the next attempt; ``None`` uses the task's backoff policy.
        reason: Recorded as the last error of the delivery.
    """

    def __init__(self, delay: float | None = None, reason: str = "retry requested") -> None:
        super().__init__(reason)
        self.delay = delay
        self.reason = reason


class TaskError(TaskqError):
    """A task failed remotely; carries the remote exception type and message."""

    def __init__(self, exc_type: str, message: str, traceback: str | None = None) -> None:
        super().__init__(f"{exc_type}: {message}")
        self.exc_type = exc_type
        self.message = message
        self.traceback = traceback


class MessageDecodeError(TaskqError):
    """Bytes read from a broker are not a valid taskq message; the broker buries them in DEAD."""


class SoftTimeLimitExceeded(TaskqError):
    """Raised inside a task when its ``soft_time_limit`` passes, so it can clean up and exit."""

    def __init__(self, message: str = "soft time limit exceeded") -> None:
        super().__init__(message)


class TimeLimitExceeded(TaskqError):
    """A task passed its hard ``time_limit``; it was stopped and goes to retry or DEAD."""

    def __init__(self, message: str = "time limit exceeded") -> None:
        super().__init__(message)


class TaskRevoked(TaskqError):
    """``AsyncResult.get()`` of a task that was revoked: it did not run, or was stopped."""


class TaskExpired(TaskqError):
    """``AsyncResult.get()`` of a task whose message expired before it started; it never ran."""


class TaskTerminated(BaseException):
    """Raised inside a running task that was revoked with ``terminate=True``.

    A ``BaseException``, like ``KeyboardInterrupt``, so a task's ``except Exception`` does not
    swallow it; the worker ends the message REVOKED and does not retry it.
    """


class ResultTimeout(TaskqError, TimeoutError):
    """``AsyncResult.get(timeout=...)`` saw no result in time; the task may still run."""


class MissingCapability(ConfigurationError):
    """A feature needs a capability the backend does not offer (see ``taskq_core.capabilities``).

    Raised where the feature starts (a send, ``result.get()``, worker start), with one line
    naming the feature, the capability and the backend.
    """

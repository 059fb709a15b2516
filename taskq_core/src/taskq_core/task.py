"""A registered task: the function plus how to send it and how to retry it."""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, ParamSpec

from typing_extensions import TypeVar

from taskq_core import aio
from taskq_core.arguments import CallCheck
from taskq_core.building import MessageBuilding
from taskq_core.bulk import collector_paused
from taskq_core.context import ETA_HEADER
from taskq_core.control import expires_at
from taskq_core.errors import ConfigurationError
from taskq_core.result import AsyncResult
from taskq_core.schemas import (
    Message,
    require_queue_name,
)
from taskq_core.task_options import ExecutionOptions
from taskq_core.unique import claim_for, send_unique_message
from taskq_core.while_running import WhileRunning

if TYPE_CHECKING:
    from taskq_core.app import Taskq
    from taskq_core.canvas import Canvas, Signature
    from taskq_core.control import Expires
    from taskq_core.retry import RetryPolicy
    from taskq_core.unique import UniqueUntil

P = ParamSpec("P")
#: What calling the function returns (a coroutine for an ``async def`` task).
R = TypeVar("R")
#: What ``get()`` returns: ``R``, or what the coroutine returns for an ``async def`` task.
T = TypeVar("T", default=R)

log = logging.getLogger("taskq.producer")


class Task(MessageBuilding, WhileRunning, Generic[P, R, T]):
    """A function registered with ``@app.task``.

    Calling the task runs the function here and now; ``delay``/``apply_async`` send it to a worker
    and ``adelay``/``aapply_async``/``adelay_many`` do the same from asyncio code.

    Type parameters: ``P`` the function's parameters, ``R`` what calling it returns, ``T`` the
    result's type (``R``, or the awaited type of an ``async def`` task); ``@app.task`` infers all
    three.
    """

    def __init__(
        self,
        app: Taskq,
        fn: Callable[P, R],
        *,
        name: str,
        queue: str,
        priority: int,
        policy: RetryPolicy,
        max_deliveries: int,
        options: ExecutionOptions | None = None,
        unique: tuple[float | None, UniqueUntil] = (None, "done"),
    ) -> None:
        self.app = app
        self.fn = fn
        self.name = name
        self.queue = require_queue_name(queue)
        self.priority = priority
        self.policy = policy
        self.max_deliveries = max_deliveries
        self.options = options or ExecutionOptions()
        #: Seconds each call's default unique key is held (``None``: calls are not unique), and
        #: whether it is released when the task is done (``"done"``) or only then (``"ttl"``).
        self.unique_for, self.unique_until = unique
        #: ``async def`` tasks run on the worker's event loop.
        self.is_async = inspect.iscoroutinefunction(fn)
        #: Checks a call's arguments against ``fn``'s signature (producer and worker); a bound
        #: task's first parameter is the task itself, which no call passes.
        unbound: Callable[..., Any] = fn
        checked = functools.partial(unbound, None) if self.options.bind else unbound
        self.call_check = CallCheck(checked)
        self.__doc__ = fn.__doc__
        self.__name__ = getattr(fn, "__name__", name)
        self.__wrapped__ = fn

    def __repr__(self) -> str:
        return f"<Task {self.name} queue={self.queue}>"

    @property
    def soft_time_limit(self) -> float | None:
        """Seconds before ``SoftTimeLimitExceeded`` is raised inside the task, if set."""
        return self.options.soft_time_limit

    @property
    def time_limit(self) -> float | None:
        """Hard time limit in seconds, if set."""
        return self.options.time_limit

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the function in this process, like calling it undecorated.

        A ``bind=True`` task's function gets the task as its first argument.
        """
        return self.run(*args, **kwargs)  # type: ignore[no-any-return]

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """Run the function with decoded message arguments (what the worker calls)."""
        if self.options.bind:
            return self.fn(self, *args, **kwargs)  # type: ignore[arg-type]
        return self.fn(*args, **kwargs)

    def s(self, *args: Any, **kwargs: Any) -> Signature:
        """A signature of this task: a call not sent yet.

        In a chain it receives the previous step's result as its first argument.
        """
        from taskq_core.canvas import Signature

        return Signature(self, args, kwargs)

    def si(self, *args: Any, **kwargs: Any) -> Signature:
        """An immutable signature: in a chain it ignores the previous step's result."""
        from taskq_core.canvas import Signature

        return Signature(self, args, kwargs, immutable=True)

    def delay(self, *args: P.args, **kwargs: P.kwargs) -> AsyncResult[T]:
        """Send a call with the task's defaults; shorthand for ``apply_async(args, kwargs)``."""
        return self.apply_async(args, kwargs)

    async def adelay(self, *args: P.args, **kwargs: P.kwargs) -> AsyncResult[T]:
        """``delay()`` for asyncio: the same checks and hooks, an awaited write."""
        return await self.aapply_async(args, kwargs)

    def apply_async(
        self,
        args: Sequence[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        *,
        countdown: float | None = None,
        eta: dt.datetime | float | None = None,
        queue: str | None = None,
        priority: int | None = None,
        task_id: str | None = None,
        max_retries: int | None = None,
        headers: Mapping[str, str] | None = None,
        unique_key: str | None = None,
        unique_for: float | None = None,
        unique_until: UniqueUntil | None = None,
        expires: Expires | None = None,
        link: Canvas | Sequence[Canvas] | None = None,
        link_error: Canvas | Sequence[Canvas] | None = None,
    ) -> AsyncResult[T]:
        """Send a call with per-call options.

        Args:
            args: Positional arguments (JSON values).
            kwargs: Keyword arguments (JSON values).
            countdown: Run no earlier than this many seconds from now.
            eta: Run no earlier than this moment (aware ``datetime`` or epoch seconds).
            queue: Queue to send to, instead of the task's (or the app's route for it).
            priority: 0-9, larger runs first.
            task_id: Message id to use. While the queue holds a message with this id (in any
                state, DEAD included), the send writes nothing and returns that message's
                handle with ``duplicate=True``. Once that message is gone (acked), the id may be
                reused: the send writes a new message and deletes the old result, so ``get()``
                waits for the new one.
            max_retries: Retry limit for this call only.
            headers: String metadata for plugins.
            unique_key: Send only if no message of the queue holds this key; otherwise write
                nothing and return the holder's handle with ``duplicate=True``. Needs
                ``unique_for`` (here or on the task).
            unique_for: Seconds the key is held at most (default: the task's ``unique_for``,
                whose default key is the task name and a hash of the arguments).
            unique_until: ``"done"``: the key is also released when the task succeeds or dies;
                ``"ttl"``: held for the whole ``unique_for`` (default: the task's).
            expires: Seconds from now, a ``timedelta`` or an aware ``datetime``: a call not
                started by then is not run and ends EXPIRED (``get()`` raises ``TaskExpired``).
                Overrides the task's ``expires``.
            link: Signature(s) sent with this task's result as first argument when it succeeds,
                in the same atomic step as its ack (see docs/workflows.md).
            link_error: Signature(s) sent with this task's id as first argument when it ends
                in DEAD, in the same atomic step as the burial.

        Raises:
            SerializationError: an argument is not JSON, or the message is over the app's
                ``max_message_bytes``; nothing was written.
            SignatureMismatch: the arguments do not fit the function's signature (a
                ``TypeError`` too); nothing was written.
            BrokerFullError: the broker is out of memory; nothing was written.
            Reject: a ``taskq_before_send`` hook refused the message.
        """
        if link or link_error:
            if headers:
                raise ConfigurationError("headers= cannot be combined with link= or link_error=")
            when = self.app.resolve_eta(countdown=countdown, eta=eta)
            wait = None if when is None else max(0.0, when - self.app.clock.now())
            return self._apply_linked(
                args, kwargs, link, link_error, wait, queue, priority, task_id, max_retries
            )
        message, when = self._message_at(
            args, kwargs, countdown, eta, queue, priority, task_id, max_retries, headers, expires
        )
        app = self.app
        claim = claim_for(
            message,
            unique_key=unique_key,
            unique_for=self.unique_for if unique_for is None else unique_for,
            unique_until=unique_until or self.unique_until,
        )
        if claim is not None:
            holder = send_unique_message(
                app, message, claim, eta=when, replace_result=task_id is not None
            )
            if holder == message.id:
                return AsyncResult(message.id, app, message.queue)
            log.info("unique key %r is held by %s; nothing was sent", claim.key, holder)
            return AsyncResult(holder, app, message.queue, duplicate=True)
        written = self.app.send_message(message, eta=when, replace_result=task_id is not None)
        return self._handle(message, written)

    async def aapply_async(
        self,
        args: Sequence[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        *,
        countdown: float | None = None,
        eta: dt.datetime | float | None = None,
        queue: str | None = None,
        priority: int | None = None,
        task_id: str | None = None,
        max_retries: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncResult[T]:
        """``apply_async()`` for asyncio: same options, checks, errors and hooks.

        Raises:
            ConfigurationError: the backend has no asyncio producer API, or the task is
                unique (an asyncio unique send does not exist yet); and what
                :meth:`apply_async` raises.
        """
        self._refuse_unique("aapply_async")
        message, when = self._message_at(
            args, kwargs, countdown, eta, queue, priority, task_id, max_retries, headers, None
        )
        chosen = task_id is not None
        written = await aio.asend_message(self.app, message, eta=when, replace_result=chosen)
        return self._handle(message, written)

    def _message_at(
        self,
        args: Sequence[Any] | None,
        kwargs: Mapping[str, Any] | None,
        countdown: float | None,
        eta: dt.datetime | float | None,
        queue: str | None,
        priority: int | None,
        task_id: str | None,
        max_retries: int | None,
        headers: Mapping[str, str] | None,
        expires: Expires | None,
    ) -> tuple[Message, float | None]:
        """The message of one send and when it is due (``None``: at once).

        A due time travels in the ``taskq-eta`` header too, which ``request.eta`` reads.
        """
        when = self.app.resolve_eta(countdown=countdown, eta=eta)
        if when is not None:
            headers = {**(headers or {}), ETA_HEADER: repr(float(when))}
        message = self.build_message(
            args,
            kwargs,
            queue=queue,
            priority=priority,
            task_id=task_id,
            max_retries=max_retries,
            headers=headers,
            expires=expires_at(expires, self.app.clock.now()),
        )
        return message, when

    def _handle(self, message: Message, written: bool) -> AsyncResult[T]:
        """The handle of a sent message; ``duplicate`` when the send wrote nothing."""
        if written:
            return AsyncResult(message.id, self.app, message.queue)
        log.info("task_id %s is already queued in %r; nothing was sent", message.id, message.queue)
        return AsyncResult(message.id, self.app, message.queue, duplicate=True)

    def _apply_linked(
        self,
        args: Sequence[Any] | None,
        kwargs: Mapping[str, Any] | None,
        link: Canvas | Sequence[Canvas] | None,
        link_error: Canvas | Sequence[Canvas] | None,
        countdown: float | None,
        queue: str | None,
        priority: int | None,
        task_id: str | None,
        max_retries: int | None,
    ) -> AsyncResult[T]:
        """``apply_async`` with callbacks: sent as a one-step workflow."""
        options: dict[str, Any] = {"link": link or [], "link_error": link_error or []}
        for name, value in (
            ("countdown", countdown),
            ("queue", queue),
            ("priority", priority),
            ("task_id", task_id),
            ("max_retries", max_retries),
        ):
            if value is not None:
                options[name] = value
        self.check_call(args, kwargs)
        signature = self.s(*(args or ()), **(kwargs or {})).set(**options)
        result: AsyncResult[T] = signature.apply_async()
        return result

    def delay_many(
        self,
        calls: Iterable[Sequence[Any] | Mapping[str, Any]],
        *,
        countdown: float | None = None,
        queue: str | None = None,
        priority: int | None = None,
        task_ids: Sequence[str] | None = None,
    ) -> list[AsyncResult[T]]:
        """Send many calls in as few round trips as the backend allows.

        Each item is a sequence of positional arguments or a mapping of keyword arguments.
        Every message is validated before the first one is written, so a bad argument anywhere
        raises with nothing sent.

        Args:
            calls: The calls, one message each.
            countdown: Run no earlier than this many seconds from now.
            queue: Queue to send to, instead of the task's.
            priority: 0-9, larger runs first.
            task_ids: One message id per call, as ``apply_async(task_id=...)``: sending the same
                ids again (after a ``PartialSendError``, a timeout, a crash) writes no duplicates.

        Raises:
            SerializationError: an argument is not JSON, or a message is over the app's
                ``max_message_bytes``; nothing was written.
            SignatureMismatch: a call does not fit the function's signature; nothing was written.
            PartialSendError: the broker refused part of the batch after another part was
                written (e.g. Redis ran out of memory); ``.sent`` and ``.unsent`` hold the ids.
            BrokerFullError: the broker is out of memory; nothing was written.
        """
        self._refuse_unique("delay_many")
        with collector_paused():
            messages = self.build_messages(calls, queue=queue, priority=priority, task_ids=task_ids)
            when = self.app.resolve_eta(countdown=countdown, eta=None)
            chosen = task_ids is not None
            written = self.app.send_messages(messages, eta=when, replace_result=chosen)
            return self._handles(messages, written)

    async def adelay_many(
        self,
        calls: Iterable[Sequence[Any] | Mapping[str, Any]],
        *,
        countdown: float | None = None,
        queue: str | None = None,
        priority: int | None = None,
        task_ids: Sequence[str] | None = None,
    ) -> list[AsyncResult[T]]:
        """``delay_many()`` for asyncio: same arguments, checks, errors and hooks.

        Raises:
            ConfigurationError: the backend has no asyncio producer API, or the task is
                unique; and what :meth:`delay_many` raises.
        """
        self._refuse_unique("adelay_many")
        messages = self.build_messages(calls, queue=queue, priority=priority, task_ids=task_ids)
        when = self.app.resolve_eta(countdown=countdown, eta=None)
        chosen = task_ids is not None
        written = await aio.asend_messages(self.app, messages, eta=when, replace_result=chosen)
        return self._handles(messages, written)

    def _refuse_unique(self, call: str) -> None:
        """Refuse a send path that cannot claim a unique key, rather than skip the claim."""
        if self.unique_for is not None:
            raise ConfigurationError(
                f"{call} cannot send the unique task {self.name!r}: "
                "send each call with delay() or apply_async()"
            )

    def _handles(
        self, messages: Sequence[Message], written: Sequence[bool]
    ) -> list[AsyncResult[T]]:
        """The handles of a bulk send, ``duplicate`` where a message was not written."""
        app = self.app
        return [
            AsyncResult(m.id, app, m.queue, duplicate=not new)
            for m, new in zip(messages, written, strict=True)
        ]

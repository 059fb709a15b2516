"""The application object: task registry, broker handle, routing and the send path."""

from __future__ import annotations

import datetime as dt
import math
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from taskq_core.arguments import DEFAULT_MAX_MESSAGE_BYTES
from taskq_core.backends import connect
from taskq_core.broker import DEFAULT_RESULT_TTL, BaseBroker
from taskq_core.bulk import BULK_CHUNK as BULK_CHUNK  # re-exported: the bulk chunk size
from taskq_core.bulk import send_in_chunks
from taskq_core.capabilities import AsyncProducing, QueueControl
from taskq_core.clock import SYSTEM_CLOCK, Clock
from taskq_core.control import revoke
from taskq_core.errors import ConfigurationError
from taskq_core.periodic.schedule import Periodic
from taskq_core.plugins import after_send, before_send, plugin_manager
from taskq_core.registry import TaskRegistry
from taskq_core.result import AsyncResult
from taskq_core.schemas import require_queue_name
from taskq_core.task import Task
from taskq_core.urls import redact_url

if TYPE_CHECKING:
    from collections import Counter

    from taskq_core.aio import AsyncProducer
    from taskq_core.capabilities import RevokeOutcome
    from taskq_core.schemas import Message
    from taskq_core.settings import ConfigSource

P = ParamSpec("P")
R = TypeVar("R")

#: Environment variable naming the broker URL when the app is given none.
BROKER_URL_ENV = "TASKQ_BROKER_URL"


class Taskq(TaskRegistry):
    """A taskq application.

    Args:
        broker: A broker, a broker URL, or ``None`` for ``$TASKQ_BROKER_URL`` else ``memory://``.
            A URL is resolved through the installed backends and connected on first use.
        default_queue: Queue for tasks that name none and match no route.
        routes: Task-name glob patterns to queue names, first match wins
            (``{"reports.*": "slow"}``); a task's own ``queue=`` wins over routes.
        clock: Time source for ETAs and ``created_at``; defaults to the broker's clock, else the
            system clock.
        result_ttl: Seconds results are kept unless a task says otherwise.
        ignore_results: Store no results unless a task asks (``ignore_result=False``).
        queue_limits: Queue name to the most messages in PROCESSING at once, across all workers
            (workers of those queues write the caps to the broker when they start).
        max_message_bytes: Largest encoded message ``delay()`` sends (default 1 MiB, see
            :data:`~taskq_core.arguments.DEFAULT_MAX_MESSAGE_BYTES`); ``None`` for no limit.
    """

    def __init__(
        self,
        broker: BaseBroker | str | None = None,
        *,
        default_queue: str = "default",
        routes: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        result_ttl: float = DEFAULT_RESULT_TTL,
        ignore_results: bool = False,
        queue_limits: Mapping[str, int] | None = None,
        max_message_bytes: int | None = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        self._broker: BaseBroker | None = broker if isinstance(broker, BaseBroker) else None
        self._broker_url = (
            None
            if isinstance(broker, BaseBroker)
            else (broker or os.environ.get(BROKER_URL_ENV) or "memory://")
        )
        self.default_queue = require_queue_name(default_queue)
        self.routes = {pattern: require_queue_name(q) for pattern, q in (routes or {}).items()}
        self._clock = clock
        self.result_ttl = result_ttl
        self.ignore_results = ignore_results
        self.queue_limits = {require_queue_name(q): n for q, n in (queue_limits or {}).items()}
        for queue, cap in self.queue_limits.items():
            if cap < 1:
                raise ConfigurationError(f"queue_limits[{queue!r}] must be >= 1, got {cap}")
        if max_message_bytes is not None and max_message_bytes < 1:
            raise ConfigurationError(f"max_message_bytes must be >= 1, got {max_message_bytes}")
        self.max_message_bytes = max_message_bytes
        self.tasks: dict[str, Task[..., Any]] = {}
        #: Periodic schedules by key (``@app.periodic``); every worker's scheduler runs them.
        self.periodic_schedules: dict[str, Periodic] = {}
        self._explicit_queue: set[str] = set()
        self._broker_lock = threading.Lock()
        # A broker handed in is the caller's to connect; one built from the URL is connected
        # on first use of ``broker`` (not by the asyncio producer, which has its own client).
        self._connected = self._broker is not None
        plugin_manager().hook.taskq_app_configured(app=self)

    @classmethod
    def from_config(cls, source: ConfigSource = None, **options: Any) -> Taskq:
        """An app from ``[tool.taskq]`` in ``pyproject.toml``, a settings object or a mapping.

        ``TASKQ_<SETTING>`` environment variables override the source's values; ``options``
        (e.g. ``clock=``) override both. See :mod:`taskq_core.settings` and
        docs/configuration.md.

        Raises:
            ConfigurationError: an unknown or mistyped setting, in one line.
        """
        from taskq_core.settings import load_settings

        return cls(**{**load_settings(source).app_options(), **options})

    def __repr__(self) -> str:
        where = self.broker_url or type(self._broker).__name__
        return f"<Taskq broker={where} tasks={len(self.tasks)}>"

    # -- broker ----------------------------------------------------------------------------------

    @property
    def broker_url(self) -> str | None:
        """The broker URL with its password hidden, for logs and errors (``None``: no URL)."""
        return None if self._broker_url is None else redact_url(self._broker_url)

    def reveal_broker_url(self) -> str | None:
        """The broker URL with its password, for another process that must connect."""
        return self._broker_url

    @property
    def broker(self) -> BaseBroker:
        """The connected broker (built from the URL and connected on first access)."""
        if not self._connected:
            with self._broker_lock:
                if not self._connected:
                    self._built_broker().connect()
                    self._connected = True
        assert self._broker is not None
        return self._broker

    def _built_broker(self) -> BaseBroker:
        """The broker, built from the URL if need be but not connected (lock held)."""
        if self._broker is None:
            assert self._broker_url is not None
            self._broker = connect(self._broker_url)
        return self._broker

    def async_producer(self) -> AsyncProducer:
        """The broker's asyncio producer (``taskq_core.aio``); builds no sync connection.

        Raises:
            MissingCapability: the backend has no asyncio producer.
        """
        if self._broker is None:
            with self._broker_lock:
                broker = self._built_broker()
        else:
            broker = self._broker
        return AsyncProducing.require(broker, "adelay() and aget()").async_producer()

    @property
    def clock(self) -> Clock:
        """The clock ETAs are computed with."""
        if self._clock is not None:
            return self._clock
        if self._broker is not None and self._broker.clock is not None:
            return self._broker.clock
        return SYSTEM_CLOCK

    def use_broker(self, broker: BaseBroker | str) -> None:
        """Switch to another broker or URL (the CLI's ``--broker``); tasks stay registered."""
        with self._broker_lock:
            self._broker = broker if isinstance(broker, BaseBroker) else None
            self._broker_url = None if isinstance(broker, BaseBroker) else broker
            self._connected = self._broker is not None

    def close(self) -> None:
        """Close the broker if this app opened it from a URL (asyncio connections included)."""
        if self._broker is not None and self._broker_url is not None:
            self._broker.close()
            self._broker = None
            self._connected = False

    async def aclose(self) -> None:
        """Close the running loop's asyncio connections, then :meth:`close`.

        The shutdown step of an asyncio app (a FastAPI lifespan, say).
        """
        broker = self._broker
        if self._broker_url is not None and isinstance(broker, AsyncProducing):
            await broker.async_producer().aclose()
        self.close()

    # -- sending ---------------------------------------------------------------------------------

    def resolve_eta(
        self, *, countdown: float | None, eta: dt.datetime | float | None
    ) -> float | None:
        """Absolute ETA in epoch seconds from ``countdown`` or ``eta``; ``None`` means now."""
        if countdown is not None and eta is not None:
            raise ConfigurationError("give countdown or eta, not both")
        if countdown is not None:
            if not math.isfinite(countdown) or countdown < 0:
                raise ConfigurationError(f"countdown must be a finite number >= 0, got {countdown}")
            return self.clock.now() + countdown if countdown > 0 else None
        if isinstance(eta, dt.datetime):
            if eta.tzinfo is None:
                raise ConfigurationError("eta must be timezone-aware (e.g. datetime.now(UTC))")
            return eta.timestamp()
        if eta is not None and not math.isfinite(eta):
            raise ConfigurationError(f"eta must be a finite epoch time, got {eta}")
        return eta

    def send_message(
        self, message: Message, *, eta: float | None = None, replace_result: bool = False
    ) -> bool:
        """Write one message (hooks around it); ``False`` if its id was already known.

        ``replace_result`` as for :meth:`BaseBroker.send` (for ids the caller chose).
        """
        before_send((message,))
        broker = self.broker
        if eta is None:
            accepted = broker.send(message, replace_result=replace_result)
        else:
            accepted = broker.schedule(message, eta=eta, replace_result=replace_result)
        after_send((message,), eta)
        return accepted

    def send_messages(
        self, messages: Sequence[Message], *, eta: float | None = None, replace_result: bool = False
    ) -> list[bool]:
        """Write many messages; every ``before_send`` hook runs before the first write.

        Sent in chunks of :data:`~taskq_core.bulk.BULK_CHUNK` (one round trip each on Redis).

        Raises:
            PartialSendError: the broker refused part of the batch after writing another part.
        """
        before_send(messages)
        accepted = send_in_chunks(self.broker, messages, eta=eta, replace_result=replace_result)
        after_send(messages, eta)
        return accepted

    def pause_queue(self, name: str) -> bool:
        """Stop workers taking messages of queue ``name`` (see ``QueueControl.pause``)."""
        return QueueControl.require(self.broker, "pausing a queue").pause(require_queue_name(name))

    def resume_queue(self, name: str) -> bool:
        """Let workers take messages of queue ``name`` again (see ``QueueControl.resume``)."""
        queues = QueueControl.require(self.broker, "resuming a queue")
        return queues.resume(require_queue_name(name))

    def run_until_idle(
        self, *, queues: str | Sequence[str] | None = None, max_tasks: int = 10_000
    ) -> Counter[str]:
        """Run every READY and due task here, one at a time, until the queues are empty.

        For tests: countdowns and retry delays are jumped over when the broker runs on a
        :class:`~taskq_core.clock.FakeClock`. See :func:`taskq_core.worker.drain.run_until_idle`.
        """
        from taskq_core.worker.drain import run_until_idle

        return run_until_idle(self, queues=queues, max_tasks=max_tasks)

    def revoke(
        self, id: str, *, queue: str | None = None, terminate: bool = False
    ) -> RevokeOutcome:
        """Revoke the task ``id``: not run if it waits, stopped if it runs and ``terminate``.

        ``queue=None`` asks every known queue; see docs/control.md for what each outcome means.
        """
        return revoke(self.broker, id, queue=queue, terminate=terminate, result_ttl=self.result_ttl)

    def AsyncResult(
        self, id: str, *, queue: str | None = None, duplicate: bool = False
    ) -> AsyncResult[Any]:
        """Rebuild a handle from a message id."""
        return AsyncResult(id, app=self, queue=queue, duplicate=duplicate)


def import_app(spec: str) -> Taskq:
    """Import ``module:attribute`` (or ``module``, finding its only ``Taskq``).

    Raises:
        ConfigurationError: the module cannot be imported or holds no (single) app; one line.
    """
    import importlib

    module_name, _, attribute = spec.partition(":")
    if not module_name or module_name.endswith(".py"):
        dotted = module_name.removesuffix(".py").replace("/", ".") or "tasks"
        hint = "drop the .py" if module_name else "name the module"
        raise ConfigurationError(f"{spec!r}: {hint}, e.g. {dotted}:{attribute or 'app'}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except (ImportError, ValueError, TypeError) as exc:  # missing, or not a module name at all
        raise ConfigurationError(f"cannot import {module_name!r}: {exc}") from None
    if attribute:
        app = getattr(module, attribute, None)
        if not isinstance(app, Taskq):
            raise ConfigurationError(f"{spec!r} is not a taskq app (Taskq instance)")
        return app
    apps = [value for value in vars(module).values() if isinstance(value, Taskq)]
    if len(apps) != 1:
        raise ConfigurationError(f"name the app as {module_name}:<name> ({len(apps)} found)")
    return apps[0]


def app_spec_of(app: Taskq) -> str | None:
    """The ``module:attribute`` path another process can import ``app`` from, if there is one.

    The process pool's children import the app by this path; an app built inside a function has
    none, and the worker says so in one line.
    """
    for name, module in list(sys.modules.items()):
        if name.startswith("__") or module is None:  # __main__, and multiprocessing's alias
            continue
        for attribute, value in list(vars(module).items()):
            if value is app:
                return f"{name}:{attribute}"
    main = sys.modules.get("__main__")
    if main is not None:
        for attribute, value in list(vars(main).items()):
            if value is app:
                spec = getattr(main, "__spec__", None)
                if spec is not None and spec.name:
                    return f"{spec.name}:{attribute}"
    return None

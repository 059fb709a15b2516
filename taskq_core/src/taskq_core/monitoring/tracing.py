"""OpenTelemetry tracing: a send span in the producer, a run span in the worker, one trace.

``taskq_before_send`` starts a ``PRODUCER`` span and injects its context into the message's
``headers`` with the global propagator (W3C ``traceparent`` by default); ``taskq_after_send``
ends it. In the worker, a ``taskq_task_execute`` wrapper extracts that context and runs the task
inside a ``CONSUMER`` span, its child, so spans the task body opens nest under it and the whole
chain (the request that sent, the run, what the run sent) is one trace.

Attributes follow OpenTelemetry's messaging semantic conventions where one fits
(``messaging.system``, ``messaging.destination.name``, ``messaging.message.id``,
``messaging.operation.type``), plus ``taskq.task.name``, ``taskq.task.id``, ``taskq.outcome``
(``success``, ``failure``, or ``retry`` for an explicit ``Retry``), ``taskq.delivery.count``
and ``taskq.retries``. A failed run records the exception and sets the ERROR status.

Enabling is explicit: installing ``taskq-core[otel]`` changes nothing until
:func:`enable_tracing` is called, in the module that defines the app, so the ``processes``
pool's children (which import that module) trace too. Spans go wherever the OpenTelemetry SDK
of the process sends them; configure it in that same module.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Coroutine, Generator
from typing import TYPE_CHECKING, Any

from taskq_core.errors import Retry
from taskq_core.monitoring import require
from taskq_core.plugins import hookimpl, plugin_manager

if TYPE_CHECKING:
    from opentelemetry.trace import Span, TracerProvider

    from taskq_core.schemas import Delivery, Message
    from taskq_core.task import Task

EXTRA = "otel"
PLUGIN_NAME = "taskq.tracing"


class TaskqTracing:
    """The tracing plugin.

    Args:
        tracer_provider: Where spans go; default the global one (``trace.set_tracer_provider``).
    """

    def __init__(self, tracer_provider: TracerProvider | None = None) -> None:
        require(
            "opentelemetry.trace",
            package="opentelemetry-api",
            extra=EXTRA,
            feature="OpenTelemetry tracing",
        )
        from opentelemetry import trace

        from taskq_core import __version__

        self._tracer = trace.get_tracer("taskq", __version__, tracer_provider=tracer_provider)
        #: id() of each message being sent -> its send span and the finalizer that ends the
        #: span if the message is dropped without ``after_send`` (the send raised). Only single
        #: ``setitem``/``pop`` calls touch it (atomic under the GIL): no lock, which the
        #: finalizer, run by the garbage collector on any thread, could deadlock on.
        self._sending: dict[int, tuple[Span, weakref.finalize[Any, Any]]] = {}

    # -- producer --------------------------------------------------------------------------------

    @hookimpl
    def taskq_before_send(self, message: Message) -> None:
        """Start the send span and write its context into the message's headers."""
        from opentelemetry import propagate, trace
        from opentelemetry.trace import SpanKind

        span = self._tracer.start_span(
            f"send {message.task}",
            kind=SpanKind.PRODUCER,
            attributes={**_attributes(message), "messaging.operation.type": "send"},
        )
        propagate.inject(message.headers, context=trace.set_span_in_context(span))
        key = id(message)
        dropped = weakref.finalize(message, self._send_failed, key)
        self._sending[key] = (span, dropped)

    @hookimpl
    def taskq_after_send(self, message: Message, eta: float | None) -> None:
        """End the send span."""
        sending = self._sending.pop(id(message), None)
        if sending is None:
            return
        span, dropped = sending
        dropped.detach()
        if eta is not None:
            span.set_attribute("taskq.eta", eta)
        span.end()

    def _send_failed(self, key: int) -> None:
        """A message was dropped between ``before_send`` and ``after_send``: its send raised."""
        from opentelemetry.trace import Status, StatusCode

        sending = self._sending.pop(key, None)
        if sending is not None:
            span = sending[0]
            span.set_status(Status(StatusCode.ERROR, "the send did not complete"))
            span.end()

    # -- worker ----------------------------------------------------------------------------------

    @hookimpl(wrapper=True)
    def taskq_task_execute(
        self, delivery: Delivery, task: Task[..., Any]
    ) -> Generator[None, object, object]:
        """Run the task inside a CONSUMER span continuing the sender's trace."""
        from opentelemetry import context, propagate, trace
        from opentelemetry.trace import SpanKind

        message = delivery.message
        parent = propagate.extract(message.headers)
        span = self._tracer.start_span(
            f"process {message.task}",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes={
                **_attributes(message),
                "messaging.operation.type": "process",
                "taskq.delivery.count": delivery.token,
                "taskq.retries": delivery.retries,
            },
        )
        token = context.attach(trace.set_span_in_context(span, parent))
        try:
            result = yield
        except BaseException as exc:
            _finish(span, exc)
            raise
        finally:
            context.detach(token)
        if inspect.iscoroutine(result):
            return _traced(span, result)
        _finish(span, None)
        return result


def enable_tracing(tracer_provider: TracerProvider | None = None) -> TaskqTracing:
    """Register the tracing plugin once per process and return it.

    Call it where the app is defined, so every process that imports the app traces.
    """
    manager = plugin_manager()
    existing = manager.get_plugin(PLUGIN_NAME)
    if isinstance(existing, TaskqTracing):
        return existing
    plugin = TaskqTracing(tracer_provider)
    manager.register(plugin, name=PLUGIN_NAME)
    return plugin


def disable_tracing() -> None:
    """Unregister the plugin :func:`enable_tracing` registered, if any."""
    manager = plugin_manager()
    if manager.get_plugin(PLUGIN_NAME) is not None:
        manager.unregister(name=PLUGIN_NAME)


def _attributes(message: Message) -> dict[str, str]:
    return {
        "messaging.system": "taskq",
        "messaging.destination.name": message.queue,
        "messaging.message.id": message.id,
        "taskq.task.name": message.task,
        "taskq.task.id": message.id,
    }


def _finish(span: Span, error: BaseException | None) -> None:
    """Record the outcome on ``span`` and end it."""
    from opentelemetry.trace import Status, StatusCode

    if error is None:
        span.set_attribute("taskq.outcome", "success")
    elif isinstance(error, Retry):
        span.set_attribute("taskq.outcome", "retry")
        span.record_exception(error)
    else:
        span.set_attribute("taskq.outcome", "failure")
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
    span.end()


async def _traced(span: Span, coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Await an ``async def`` task's coroutine inside ``span``, then end it."""
    from opentelemetry import trace

    with trace.use_span(
        span, end_on_exit=False, record_exception=False, set_status_on_exception=False
    ):
        try:
            result = await coroutine
        except BaseException as exc:
            _finish(span, exc)
            raise
    _finish(span, None)
    return result

"""OpenTelemetry: the run of a task continues the trace of the code that sent it.

Spans go to the SDK's in-memory exporter through a tracer provider of the test's own (the
global one is left alone). Messages travel through a memory broker to an in-process worker.
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from taskq_core import Message, Reject, TaskError, Taskq, Worker, hookimpl
from taskq_core.monitoring.tracing import disable_tracing, enable_tracing
from taskq_core.plugins import plugin_manager
from taskq_memory import MemoryBroker

from ..support.waiting import WAIT_TIMEOUT, wait_until
from . import monitored_app

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def provider() -> Iterator[TracerProvider]:
    """A tracer provider of the test's own, exporting every ended span to memory."""
    tracer_provider = TracerProvider()
    yield tracer_provider
    tracer_provider.shutdown()


@pytest.fixture
def exporter(provider: TracerProvider) -> Iterator[InMemorySpanExporter]:
    """Tracing enabled, exporting through ``provider`` to memory; disabled afterwards."""
    spans = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    enable_tracing(provider)
    yield spans
    disable_tracing()


@pytest.fixture
def app(make_worker: Callable[..., Worker]) -> Taskq:
    """An app on a memory broker, with a threads-pool worker running."""
    app = Taskq(MemoryBroker())

    @app.task(name="traced.add")
    def add(x: int, y: int) -> int:
        return x + y

    @app.task(name="traced.broken", max_retries=0)
    def broken() -> None:
        raise ValueError("broken on purpose")

    make_worker(app)
    return app


def spans_named(exporter: InMemorySpanExporter, name: str, count: int = 1) -> list[ReadableSpan]:
    """The ended spans called ``name``, once ``count`` of them were exported."""
    found: list[ReadableSpan] = []

    def exported() -> bool:
        nonlocal found
        found = [span for span in exporter.get_finished_spans() if span.name == name]
        return len(found) >= count

    wait_until(exported, what=f"{count} span(s) {name!r}")
    return found


def test_the_run_span_continues_the_senders_trace(
    app: Taskq, exporter: InMemorySpanExporter, provider: TracerProvider
):
    # Given a task sent inside a span of the caller
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("request") as request:
        handle = app.tasks["traced.add"].delay(2, 3)

    # When a worker runs it
    assert handle.get(timeout=WAIT_TIMEOUT) == 5

    # Then send and run spans are in the caller's trace: request -> send -> process
    [send] = spans_named(exporter, "send traced.add")
    [run] = spans_named(exporter, "process traced.add")
    trace_id = request.get_span_context().trace_id
    assert send.context.trace_id == run.context.trace_id == trace_id
    assert send.parent is not None
    assert send.parent.span_id == request.get_span_context().span_id
    assert run.parent is not None
    assert run.parent.span_id == send.context.span_id
    assert (send.kind, run.kind) == (SpanKind.PRODUCER, SpanKind.CONSUMER)

    # And both carry the task's name, id and queue; the run its outcome
    for span in (send, run):
        assert span.attributes is not None
        assert span.attributes["taskq.task.name"] == "traced.add"
        assert span.attributes["taskq.task.id"] == handle.id
        assert span.attributes["messaging.message.id"] == handle.id
        assert span.attributes["messaging.destination.name"] == "default"
        assert span.attributes["messaging.system"] == "taskq"
    assert run.attributes is not None
    assert run.attributes["taskq.outcome"] == "success"
    assert run.status.status_code is StatusCode.UNSET


def test_a_failing_run_records_the_exception_and_an_error_status(
    app: Taskq, exporter: InMemorySpanExporter
):
    # Given a task that raises, sent outside any span
    handle = app.tasks["traced.broken"].delay()

    # When a worker runs it (no retries: straight to DEAD)
    with pytest.raises(TaskError):
        handle.get(timeout=WAIT_TIMEOUT)

    # Then its run span has the ERROR status, the exception as an event, and outcome failure
    [run] = spans_named(exporter, "process traced.broken")
    assert run.status.status_code is StatusCode.ERROR
    assert run.status.description == "ValueError: broken on purpose"
    assert run.attributes is not None
    assert run.attributes["taskq.outcome"] == "failure"
    [event] = [event for event in run.events if event.name == "exception"]
    assert event.attributes is not None
    assert event.attributes["exception.type"] == "ValueError"
    assert event.attributes["exception.message"] == "broken on purpose"
    # And a send made outside any span starts a trace of its own, continued by the run
    [send] = spans_named(exporter, "send traced.broken")
    assert send.parent is None
    assert run.parent is not None
    assert run.parent.span_id == send.context.span_id


def test_spans_opened_inside_a_task_nest_under_its_run_span(
    make_worker: Callable[..., Worker], exporter: InMemorySpanExporter, provider: TracerProvider
):
    # Given a sync and an async task that each open a span of their own
    app = Taskq(MemoryBroker())
    tracer = provider.get_tracer("task-body")

    @app.task(name="traced.sync_body")
    def sync_body() -> None:
        with tracer.start_as_current_span("sync inner"):
            pass

    @app.task(name="traced.async_body")
    async def async_body() -> None:
        with tracer.start_as_current_span("async inner"):
            pass

    make_worker(app)

    # When both run
    sync_body.delay().get(timeout=WAIT_TIMEOUT)
    async_body.delay().get(timeout=WAIT_TIMEOUT)

    # Then each inner span is a child of its task's run span
    for kind in ("sync", "async"):
        [run] = spans_named(exporter, f"process traced.{kind}_body")
        [inner] = spans_named(exporter, f"{kind} inner")
        assert inner.parent is not None
        assert inner.parent.span_id == run.context.span_id
        assert run.end_time is not None
        assert inner.end_time is not None
        assert inner.end_time <= run.end_time


class Gate:
    """Refuses every message, after the tracing plugin has started its send span."""

    @hookimpl(trylast=True)
    def taskq_before_send(self, message: Message) -> None:
        raise Reject("closed")


def test_a_send_that_raises_ends_its_span_with_an_error(exporter: InMemorySpanExporter):
    # Given a plugin that refuses messages after the send span started
    app = Taskq(MemoryBroker())
    refused = app.task(name="traced.refused")(lambda: None)
    gate = Gate()
    plugin_manager().register(gate)
    try:
        # When a send raises and the caller drops the message
        with contextlib.suppress(Reject):
            refused.delay()
        gc.collect()
    finally:
        plugin_manager().unregister(gate)

    # Then the send span is ended, with the ERROR status
    [send] = spans_named(exporter, "send traced.refused")
    assert send.status.status_code is StatusCode.ERROR


def test_a_processes_pool_child_continues_the_trace(
    in_rootdir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    make_worker: Callable[..., Worker],
    exporter: InMemorySpanExporter,
    provider: TracerProvider,
):
    # Given pool children that enable tracing where the app is defined, writing spans to a file
    spans_file = tmp_path / "spans.jsonl"
    monkeypatch.setenv(monitored_app.SPANS_FILE_ENV, str(spans_file))
    monitored_app.app.use_broker(MemoryBroker())
    make_worker(monitored_app.app, pool="processes", concurrency=1)

    # When a task is sent inside a span of this process and runs in a child
    with provider.get_tracer("test").start_as_current_span("request") as request:
        handle = monitored_app.ok.delay(1)
    assert handle.get(timeout=WAIT_TIMEOUT) == 1

    # Then the child's run span is in this trace, under this process's send span
    [send] = spans_named(exporter, "send monitoring.ok")
    [run] = [
        span
        for line in spans_file.read_text().splitlines()
        if (span := json.loads(line))["name"] == "process monitoring.ok"
    ]
    assert run["context"]["trace_id"] == f"0x{request.get_span_context().trace_id:032x}"
    assert run["parent_id"] == f"0x{send.context.span_id:016x}"
    assert run["kind"] == "SpanKind.CONSUMER"
    assert run["attributes"]["taskq.task.id"] == handle.id
    assert run["attributes"]["taskq.outcome"] == "success"

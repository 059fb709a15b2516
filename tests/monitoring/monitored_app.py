"""The app of the monitoring tests, at module level so pool children and CLI workers import it.

Outcomes are known in advance: ``ok`` succeeds, ``boom`` fails every time (one retry, then
DEAD), ``log_line`` writes a warning through ``logging`` and succeeds. The test process gives
the app its broker (a child never touches one; a CLI worker gets ``--broker``).
"""

from __future__ import annotations

import logging
import os

from taskq_core import Taskq

app = Taskq()

#: When set, this module enables tracing in every process importing it (a pool child among
#: them), writing each ended span as one JSON line to that file.
SPANS_FILE_ENV = "TASKQ_TEST_SPANS_FILE"


def _trace_to_file(path: str) -> None:
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

    from taskq_core.monitoring.tracing import enable_tracing

    def one_line(span: ReadableSpan) -> str:
        return span.to_json(indent=None) + "\n"

    provider = TracerProvider()
    spans = open(path, "a")  # noqa: SIM115 - open for the life of the child process
    provider.add_span_processor(
        SimpleSpanProcessor(ConsoleSpanExporter(out=spans, formatter=one_line))
    )
    enable_tracing(provider)


if os.environ.get(SPANS_FILE_ENV):
    _trace_to_file(os.environ[SPANS_FILE_ENV])

log = logging.getLogger("monitoring.task")


@app.task(name="monitoring.ok")
def ok(x: int) -> int:
    """Succeed."""
    return x


@app.task(name="monitoring.boom", max_retries=1, default_retry_delay=0.0, retry_backoff=False)
def boom() -> None:
    """Fail every time: one retry, then DEAD."""
    raise ValueError("boom")


@app.task(name="monitoring.log_line")
def log_line(marker: str) -> str:
    """Log one warning naming ``marker``, and succeed."""
    log.warning("task says %s", marker)
    return marker

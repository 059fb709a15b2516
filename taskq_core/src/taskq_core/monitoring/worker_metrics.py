"""A worker's Prometheus metrics: a plugin on taskq's hooks, served on a loopback port.

Where counting happens: in the worker's own process, for every pool. The plugin listens to
``taskq_task_started`` and ``taskq_deliveries_settled``, which fire there: the ``processes``
pool's children only run the function and send the outcome back to a parent thread, which
settles it. So the counters live in one registry in the worker process, and prometheus-client's
multiprocess mode (files shared by processes, cleanup of dead pids) is not needed. The one
exception is ``sent``: a task body that sends tasks runs in a child in the ``processes`` pool,
and those sends are counted where they happen, which is outside this registry.

``taskq_deliveries_settled`` rather than ``taskq_task_succeeded``: a plugin on the latter makes
every pool thread wait for its coalesced ack before taking the next task, which cuts the drain
rate of short tasks by half or more; the settled event comes after the ack without that wait.

Metrics (labels ``task`` and ``queue``):

* ``taskq_tasks_sent_total``: messages sent from this process.
* ``taskq_tasks_succeeded_total``: runs that succeeded and were acked.
* ``taskq_tasks_failed_total``: runs that raised (each is then retried or dead).
* ``taskq_tasks_retried_total``: failed runs scheduled to run again.
* ``taskq_tasks_dead_total``: messages this worker moved to DEAD (also unknown tasks, never run).
* ``taskq_task_runtime_seconds``: run time of successful and failed runs, from the start to
  the broker's answer to the settling call (ack, retry or dead).
* ``taskq_task_queue_wait_seconds``: from the message's ``created_at`` to the start of its first
  run; redeliveries and retries are not observed (their wait includes earlier runs).
* ``taskq_tasks_in_flight`` (label ``queue``): deliveries this worker holds right now, running
  or reserved ahead, read from the worker at scrape time.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from taskq_core.monitoring.prometheus import require_prometheus
from taskq_core.plugins import hookimpl, plugin_manager

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric

    from taskq_core.schemas import Delivery, Message
    from taskq_core.worker import Worker

#: Histogram buckets in seconds: from a no-op task's millisecond to a five-minute job.
BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

LABELS = ("task", "queue")


class WorkerMetrics:
    """The plugin: counters and histograms of one worker process, in their own registry.

    Args:
        worker: The worker whose held deliveries make the in-flight gauge; ``None`` leaves the
            gauge out (a producer-only process).
    """

    def __init__(self, worker: Worker | None = None) -> None:
        require_prometheus()
        from prometheus_client import (
            GC_COLLECTOR,
            PLATFORM_COLLECTOR,
            PROCESS_COLLECTOR,
            CollectorRegistry,
            Counter,
            Histogram,
        )

        self.registry: CollectorRegistry = CollectorRegistry()
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            self.registry.register(collector)
        registry = self.registry

        def counter(name: str, doc: str) -> Counter:
            return Counter(f"taskq_tasks_{name}", doc, LABELS, registry=registry)

        self.sent = counter("sent", "Messages sent from this process.")
        self.succeeded = counter("succeeded", "Runs that succeeded and were acked.")
        self.failed = counter("failed", "Runs that raised (each is then retried or dead).")
        self.retried = counter("retried", "Failed runs scheduled to run again.")
        self.dead = counter("dead", "Messages this worker moved to DEAD.")
        self.runtime = Histogram(
            "taskq_task_runtime_seconds",
            "Run time of successful and failed runs.",
            LABELS,
            buckets=BUCKETS,
            registry=registry,
        )
        self.queue_wait = Histogram(
            "taskq_task_queue_wait_seconds",
            "From the message's created_at to the start of its first run.",
            LABELS,
            buckets=BUCKETS,
            registry=registry,
        )
        if worker is not None:
            registry.register(_InFlight(worker))
        self._counters = {"acked": self.succeeded, "retried": self.retried, "dead": self.dead}
        #: (message id, fencing token) -> perf_counter() at the start of that delivery's run.
        #: The token keeps a retried message's next run (which may start before this run's
        #: outcome is reported) apart. Every started delivery is settled with some outcome,
        #: so entries do not accumulate. Single dict operations are atomic under the GIL.
        self._starts: dict[tuple[str, int], float] = {}

    # -- registration ----------------------------------------------------------------------------

    def register(self) -> WorkerMetrics:
        """Register with taskq's plugin manager (the hooks start counting); returns ``self``."""
        plugin_manager().register(self, name=f"taskq.metrics.{id(self)}")
        return self

    def unregister(self) -> None:
        """Stop counting."""
        manager = plugin_manager()
        if manager.is_registered(self):
            manager.unregister(self)

    # -- hooks -----------------------------------------------------------------------------------

    @hookimpl
    def taskq_after_send(self, message: Message, eta: float | None) -> None:
        """Count a send."""
        self.sent.labels(message.task, message.queue).inc()

    @hookimpl
    def taskq_task_started(self, delivery: Delivery) -> None:
        """Remember the start; observe the queue wait of a first delivery."""
        message = delivery.message
        self._starts[delivery.id, delivery.token] = time.perf_counter()
        if delivery.token == 1 and delivery.retries == 0:
            waited = max(0.0, time.time() - message.created_at)
            self.queue_wait.labels(message.task, message.queue).observe(waited)

    @hookimpl
    def taskq_deliveries_settled(self, outcomes: Sequence[tuple[Delivery, str]]) -> None:
        """Count each outcome, and the run time and failure of each run that started here."""
        now = time.perf_counter()
        for delivery, outcome in outcomes:
            started = self._starts.pop((delivery.id, delivery.token), None)
            counter = self._counters.get(outcome)
            if counter is None:  # lost, postponed, error: no outcome to count
                continue
            labels = (delivery.message.task, delivery.queue)
            counter.labels(*labels).inc()
            if started is None:  # never ran (an unknown task buried at once)
                continue
            self.runtime.labels(*labels).observe(now - started)
            if outcome != "acked":
                self.failed.labels(*labels).inc()


class _InFlight:
    """``taskq_tasks_in_flight`` per queue, from the worker's held deliveries at scrape time.

    Read from the worker rather than counted by hooks: what it holds is the truth, deliveries
    reserved ahead and released unstarted at shutdown included, with no bookkeeping to drift.
    """

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    def collect(self) -> Iterator[Metric]:
        """Yield the gauge, with a sample for every queue the worker consumes."""
        from prometheus_client.core import GaugeMetricFamily

        family = GaugeMetricFamily(
            "taskq_tasks_in_flight",
            "Deliveries this worker holds (running, or reserved ahead) per queue.",
            labels=["queue"],
        )
        held = collections.Counter(delivery.queue for delivery in self._worker.held)
        for queue in self._worker.queues:
            family.add_metric([queue], held.get(queue, 0))
        yield family


class MetricsServer:
    """A worker's ``/metrics`` endpoint: the plugin registered and an HTTP server serving it.

    Args:
        worker: The worker to measure.
        host: Address to bind; loopback unless exposing it is meant.
        port: TCP port; 0 picks a free one (see :attr:`port`).
    """

    def __init__(self, worker: Worker | None, *, host: str = "127.0.0.1", port: int = 9808) -> None:
        self.metrics = WorkerMetrics(worker)
        from prometheus_client import start_http_server

        try:
            self._server, self._thread = start_http_server(
                port, addr=host, registry=self.metrics.registry
            )
        except OSError as exc:
            from taskq_core.errors import ConfigurationError

            raise ConfigurationError(
                f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}"
            ) from None
        self.port: int = self._server.server_port
        self.metrics.register()

    def close(self) -> None:
        """Stop counting and serving."""
        self.metrics.unregister()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

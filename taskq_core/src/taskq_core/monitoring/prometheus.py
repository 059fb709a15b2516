"""Prometheus exposition: queue gauges read from a broker, and a loopback HTTP endpoint.

:class:`QueueCountsCollector` turns ``broker.counts(queue)`` into gauges at scrape time, so any
HTTP app (the dashboard's ``/metrics``) can serve the state of the queues with
:func:`render` or by registering the collector in its own registry. The worker's own counters
live in :mod:`taskq_core.monitoring.worker_metrics`. Needs ``taskq-core[prometheus]``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from taskq_core.monitoring import require

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric

    from taskq_core.broker import BaseBroker

EXTRA = "prometheus"

#: Content type of the text exposition format (what ``render`` returns).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Queue states exported as ``taskq_queue_<state>`` gauges, labelled by queue.
QUEUE_STATES = ("ready", "scheduled", "processing", "dead")


def require_prometheus(feature: str = "Prometheus metrics") -> None:
    """Raise a one-line ``ConfigurationError`` naming the extra if prometheus-client is missing."""
    require("prometheus_client", package="prometheus-client", extra=EXTRA, feature=feature)


class QueueCountsCollector:
    """Gauges of every queue's READY/SCHEDULED/PROCESSING/DEAD counts, read at each scrape.

    One ``counts`` call per queue per scrape (one round trip each on Redis); nothing is cached,
    so a scrape always shows the broker's state.

    Args:
        broker: The broker to read.
        queues: The queues to report, or a callable giving them; default every queue the
            broker knows (``broker.queues()``).
    """

    def __init__(
        self,
        broker: BaseBroker,
        queues: Sequence[str] | Callable[[], Sequence[str]] | None = None,
    ) -> None:
        require_prometheus()
        self._broker = broker
        self._queues = queues

    def _queue_names(self) -> Sequence[str]:
        if self._queues is None:
            return self._broker.queues()
        return self._queues() if callable(self._queues) else self._queues

    def collect(self) -> Iterator[Metric]:
        """Yield one gauge family per state, with a sample per queue."""
        from prometheus_client.core import GaugeMetricFamily

        families = {
            state: GaugeMetricFamily(
                f"taskq_queue_{state}",
                f"Messages in {state.upper()} per queue, read from the broker at scrape time.",
                labels=["queue"],
            )
            for state in QUEUE_STATES
        }
        for queue in self._queue_names():
            counts = self._broker.counts(queue)
            for state, family in families.items():
                family.add_metric([queue], getattr(counts, state))
        yield from families.values()

    def describe(self) -> list[Metric]:
        """Nothing up front: registering must not call the broker."""
        return []


def queue_registry(
    broker: BaseBroker, queues: Sequence[str] | Callable[[], Sequence[str]] | None = None
) -> CollectorRegistry:
    """A fresh registry holding only a :class:`QueueCountsCollector` of ``broker``."""
    require_prometheus()
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry(auto_describe=False)
    registry.register(QueueCountsCollector(broker, queues))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The text exposition of ``registry`` (serve it with :data:`CONTENT_TYPE`)."""
    from prometheus_client import generate_latest

    return generate_latest(registry)

"""The worker command's monitoring options: ``--metrics-port``, ``--health-port``, ``--log-format``.

Kept here so ``cli.py`` adds one decorator and one object: :func:`monitoring_options` declares
the options and :class:`WorkerMonitoring` acts on them (checks the extras before anything
connects, sets up logging, serves the ports around ``Worker.run``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import click

from taskq_core.monitoring.logs import LOG_FORMAT_ENV, LOG_FORMATS, configure, export_to_children

if TYPE_CHECKING:
    from taskq_core.worker import Worker

F = TypeVar("F", bound=Callable[..., Any])

log = logging.getLogger("taskq.worker")

LOOPBACK = "127.0.0.1"


def monitoring_options(command: F) -> F:
    """Add the monitoring options to the ``worker`` command (passed on as keyword arguments)."""
    options = [
        click.option(
            "--metrics-port",
            type=click.IntRange(0, 65535),
            help="Serve Prometheus metrics on this port (needs taskq-core[prometheus]).",
        ),
        click.option(
            "--metrics-host",
            default=LOOPBACK,
            show_default=True,
            help="Address the metrics port listens on.",
        ),
        click.option(
            "--health-port",
            type=click.IntRange(0, 65535),
            help="Serve a health probe on this port: 200 while alive, else 503.",
        ),
        click.option(
            "--health-host",
            default=LOOPBACK,
            show_default=True,
            help="Address the health port listens on.",
        ),
        click.option(
            "--log-format",
            type=click.Choice(LOG_FORMATS),
            default="text",
            show_default=True,
            envvar=["TASKQ_WORKER_LOG_FORMAT", LOG_FORMAT_ENV],
            help="json: one object per line, with the task's id, name and queue.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


class WorkerMonitoring:
    """What the monitoring options ask for, for one ``taskq worker`` run."""

    def __init__(
        self,
        *,
        metrics_port: int | None,
        metrics_host: str,
        health_port: int | None,
        health_host: str,
        log_format: str,
    ) -> None:
        self.metrics_port = metrics_port
        self.metrics_host = metrics_host
        self.health_port = health_port
        self.health_host = health_host
        self.log_format = log_format

    def check(self) -> None:
        """Fail in one line (``ConfigurationError``) when a needed extra is missing."""
        if self.metrics_port is not None:
            from taskq_core.monitoring.prometheus import require_prometheus

            require_prometheus("--metrics-port")

    def configure_logging(self, level: str) -> None:
        """Log in the chosen format, here and in the ``processes`` pool's children."""
        configure(self.log_format, level)
        export_to_children(self.log_format, level)

    @contextlib.contextmanager
    def serving(self, worker: Worker) -> Iterator[None]:
        """Serve the metrics and health ports while the block runs."""
        closers: list[Callable[[], None]] = []
        try:
            if self.metrics_port is not None:
                from taskq_core.monitoring.worker_metrics import MetricsServer

                metrics = MetricsServer(worker, host=self.metrics_host, port=self.metrics_port)
                closers.append(metrics.close)
                log.info("metrics on http://%s:%d/metrics", self.metrics_host, metrics.port)
            if self.health_port is not None:
                from taskq_core.monitoring.health import HealthServer

                health = HealthServer(worker, host=self.health_host, port=self.health_port)
                closers.append(health.close)
                log.info("health probe on http://%s:%d/", self.health_host, health.port)
            yield
        finally:
            for close in reversed(closers):
                close()

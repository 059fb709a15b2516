"""Queue gauges for ``/metrics``: ``broker.counts()`` of each queue, read at scrape time."""

from __future__ import annotations

import sys

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from taskq_core import ConfigurationError, Message
from taskq_core.cli import main
from taskq_core.monitoring.prometheus import (
    QueueCountsCollector,
    queue_registry,
    render,
)
from taskq_memory import MemoryBroker


def gauges(text: bytes) -> dict[tuple[str, str], float]:
    return {
        (sample.name, sample.labels["queue"]): sample.value
        for family in text_string_to_metric_families(text.decode())
        for sample in family.samples
    }


def test_queue_gauges_show_each_state_of_each_queue():
    # Given a broker with messages in every state of two queues
    broker = MemoryBroker()
    for n in range(3):
        broker.send(Message.build(task="t", args=(n,), queue="mail"))
    broker.schedule(Message.build(task="t", queue="mail"), eta=broker.now() + 3600)
    broker.send(Message.build(task="t", queue="mail"))
    [running] = broker.reserve(["mail"], worker_id="w", lease=60.0)
    broker.send(Message.build(task="t", queue="reports"))
    [buried] = broker.reserve(["reports"], worker_id="w", lease=60.0)
    broker.dead(buried, reason="broken")
    registry = queue_registry(broker)

    # When the registry is rendered and parsed back
    seen = gauges(render(registry))

    # Then each queue's counts are there, one gauge per state
    assert seen == {
        ("taskq_queue_ready", "mail"): 3,
        ("taskq_queue_scheduled", "mail"): 1,
        ("taskq_queue_processing", "mail"): 1,
        ("taskq_queue_dead", "mail"): 0,
        ("taskq_queue_ready", "reports"): 0,
        ("taskq_queue_scheduled", "reports"): 0,
        ("taskq_queue_processing", "reports"): 0,
        ("taskq_queue_dead", "reports"): 1,
    }

    # And the next scrape reads the broker again
    broker.ack(running)
    assert gauges(render(registry))[("taskq_queue_processing", "mail")] == 0


def test_queue_gauges_can_be_limited_to_given_queues():
    broker = MemoryBroker()
    broker.send(Message.build(task="t", queue="mail"))
    broker.send(Message.build(task="t", queue="reports"))
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry(auto_describe=False)
    registry.register(QueueCountsCollector(broker, ["reports"]))
    assert {queue for _, queue in gauges(render(registry))} == {"reports"}


def test_without_prometheus_client_metrics_fail_in_one_line_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch,
):
    # Given prometheus-client cannot be imported
    monkeypatch.setitem(sys.modules, "prometheus_client", None)

    # Then the library says which extra to install
    with pytest.raises(ConfigurationError, match=r"pip install 'taskq-core\[prometheus\]'"):
        queue_registry(MemoryBroker())

    # And so does the worker command, in one line, before it connects to anything
    result = CliRunner().invoke(
        main, ["worker", "no_such_module:app", "--metrics-port", "9808"], catch_exceptions=False
    )
    assert result.exit_code == 1, result.output
    assert result.output.strip().splitlines() == [
        "Error: --metrics-port needs prometheus-client: pip install 'taskq-core[prometheus]'"
    ]

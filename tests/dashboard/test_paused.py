"""The overview marks a paused queue."""

from __future__ import annotations

import urllib.request
from typing import TYPE_CHECKING

from taskq_core.schemas import Message
from taskq_memory import MemoryBroker

if TYPE_CHECKING:
    from tests.dashboard.conftest import ServeDashboard


def overview(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        return str(response.read().decode())


def test_the_overview_marks_a_paused_queue(serve_dashboard: ServeDashboard) -> None:
    # Given two queues with messages, one of them paused
    broker = MemoryBroker()
    broker.send(Message(task="t", queue="billing"))
    broker.send(Message(task="t", queue="emails"))
    broker.pause("emails")
    dashboard = serve_dashboard(broker)

    # When the overview is loaded
    page = overview(dashboard.url + "/")

    # Then the paused queue's row says so, and only its row
    rows = {
        name: page.split(f'id="queue-{name}"')[1].split("</tr>")[0]
        for name in ("billing", "emails")
    }
    assert '<span class="paused">paused</span>' in rows["emails"]
    assert "paused" not in rows["billing"]

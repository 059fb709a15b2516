"""The DEAD browser's pages: a page past the end shows the last page, not an empty one."""

from __future__ import annotations

import urllib.request
from typing import TYPE_CHECKING

from taskq_core.schemas import Message
from taskq_memory import MemoryBroker

if TYPE_CHECKING:
    from tests.dashboard.conftest import ServeDashboard


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        return str(response.read().decode())


def test_a_page_past_the_end_shows_the_last_page(serve_dashboard: ServeDashboard) -> None:
    # Given a queue with one DEAD message
    broker = MemoryBroker()
    message = Message(task="t", queue="billing")
    broker.send(message)
    [delivery] = broker.reserve(["billing"], worker_id="w", lease=30)
    assert broker.dead(delivery, reason="ValueError: boom")
    dashboard = serve_dashboard(broker)

    # When a page far past the end is asked for
    page = fetch(dashboard.url + "/queues/billing/dead?page=99999")

    # Then the last (only) page is shown, with its message
    assert "page 1 of 1." in page
    assert message.id in page

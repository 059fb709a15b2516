"""The Workflows page, server side, on the memory broker and on a real redis-server.

Chords are driven through the conformance suite's :class:`Flow` (an app whose deliveries are
run one by one with the worker's own runner), and the pages are fetched over HTTP from a real
uvicorn server.
"""

from __future__ import annotations

import html
import re
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

import pytest

from taskq_core.canvas import chord
from taskq_core.dashboard.workflows import CHORDS_PER_QUEUE
from taskq_core.testing.conformance.base import reserve_one
from taskq_core.testing.conformance.workflows import Flow
from taskq_memory import MemoryBroker

if TYPE_CHECKING:
    from tests.dashboard.conftest import ServeDashboard

    from taskq_core.broker import BaseBroker


def page(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read().decode()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def broker(request: pytest.FixtureRequest) -> BaseBroker:
    if request.param == "memory":
        return MemoryBroker()
    redis_broker: BaseBroker = request.getfixturevalue("redis_broker")
    return redis_broker


def chord_row(html: str, chord_id: str) -> str:
    """The table row of ``chord_id`` on the Workflows page ('' when it is not listed)."""
    found = re.search(rf'<tr id="chord-{chord_id}".*?</tr>', html, re.S)
    return found.group(0) if found else ""


def test_open_chord_shows_its_progress_then_leaves_with_its_result(
    broker: BaseBroker, serve_dashboard: ServeDashboard
) -> None:
    # Given a chord of three members, one of which has finished
    flow = Flow(broker, "reports")
    result = chord([flow.add.s(i, i) for i in range(3)], flow.tsum.s()).delay()
    delivery = reserve_one(broker, "reports")
    assert flow.success(delivery, 0)
    dashboard = serve_dashboard(broker)

    # When the Workflows page is opened
    row = chord_row(page(f"{dashboard.url}/workflows"), result.id)

    # Then the chord is listed under its queue with its callback and 1 of 3 members done
    assert 'data-done="1" data-size="3" data-state="waiting"' in row
    assert html.escape(flow.tsum.name) in row  # the callback task
    assert "1 / 3" in row
    # And its detail view lists the members by id, the finished one done
    detail = page(f"{dashboard.url}/queues/reports/chords/{result.id}")
    members = re.findall(
        r'<tr id="member-\d+" data-status="(\w+)">.*?<code>([\w-]+)</code>', detail, re.S
    )
    assert sorted(members) == sorted(
        ("done" if h.id == delivery.id else "waiting", h.id) for h in result.parent.results
    )

    # When the other members run and the callback is sent and run
    flow.run()

    # Then the chord has left the page, and its view shows the callback's result
    assert 'id="workflows-none"' in page(f"{dashboard.url}/workflows")
    detail = page(f"{dashboard.url}/queues/reports/chords/{result.id}")
    assert "Finished: the callback ran (SUCCESS)" in detail
    assert '<code id="chord-result">6</code>' in detail


def test_chord_failed_by_a_dead_member_is_listed_as_failed(
    broker: BaseBroker, serve_dashboard: ServeDashboard
) -> None:
    # Given a chord whose second member died
    flow = Flow(broker, "reports")
    result = chord([flow.add.s(1, 1), flow.boom.s(2)], flow.tsum.s()).delay()
    flow.run()
    dead_member = result.parent.results[1].id
    dashboard = serve_dashboard(broker)

    # Then the Workflows page lists it as failed, naming that member
    row = chord_row(page(f"{dashboard.url}/workflows"), result.id)
    assert 'data-done="1" data-size="2" data-state="failed"' in row
    assert dead_member in row
    # And its detail view marks that member failed
    detail = page(f"{dashboard.url}/queues/reports/chords/{result.id}")
    assert 'data-status="failed"' in detail


def test_listing_is_bounded_per_queue(broker: BaseBroker, serve_dashboard: ServeDashboard) -> None:
    # Given more open chords than the page lists per queue
    flow = Flow(broker, "reports")
    total = CHORDS_PER_QUEUE + 5
    for i in range(total):
        chord([flow.add.s(i, i)], flow.tsum.s()).delay()
    dashboard = serve_dashboard(broker)

    # Then the page shows the newest ones and says how many wait
    listed = page(f"{dashboard.url}/workflows")
    assert listed.count('class="chord"') == CHORDS_PER_QUEUE
    assert f"{total} chord(s) waiting for members; the newest {CHORDS_PER_QUEUE} shown" in listed


def test_unknown_chord_is_not_found_and_says_why(
    broker: BaseBroker, serve_dashboard: ServeDashboard
) -> None:
    dashboard = serve_dashboard(broker)
    with pytest.raises(urllib.error.HTTPError) as refused:
        page(f"{dashboard.url}/queues/reports/chords/nope")
    assert refused.value.code == 404
    assert "No open chord" in refused.value.read().decode()


def test_chord_page_past_the_end_shows_the_last_page(
    broker: BaseBroker, serve_dashboard: ServeDashboard
) -> None:
    flow = Flow(broker, "reports")
    result = chord([flow.add.s(i, i) for i in range(3)], flow.tsum.s()).delay()
    dashboard = serve_dashboard(broker)

    detail = page(f"{dashboard.url}/queues/reports/chords/{result.id}?page=99")

    assert "Page 1 of 1." in detail
    assert len(re.findall(r'<tr id="member-\d+"', detail)) == 3

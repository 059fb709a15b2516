"""The periodic page: the app's schedules with their next fire and the broker's last fire."""

from __future__ import annotations

import re
import urllib.request
from typing import TYPE_CHECKING

from taskq_core import Taskq
from taskq_memory import MemoryBroker

if TYPE_CHECKING:
    from tests.dashboard.conftest import ServeDashboard


def page(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read().decode()


def test_without_the_app_the_page_says_how_to_see_schedules(serve_dashboard: ServeDashboard):
    # Given a dashboard started from a broker alone
    dashboard = serve_dashboard(MemoryBroker())

    # Then the periodic page explains that schedules live in the app
    assert 'id="periodic-needs-app"' in page(f"{dashboard.url}/periodic")


def test_each_schedule_shows_its_next_fire_and_the_last_tick_claimed(
    serve_dashboard: ServeDashboard,
):
    # Given an app with two schedules, one of which has fired once (a tick claimed in the broker)
    app = Taskq(MemoryBroker())

    @app.periodic(every=60, name="report.hourly")
    @app.task(name="report.build")
    def build() -> None: ...

    @app.periodic(cron="0 9 * * 1", tz="Europe/Paris", name="digest.monday")
    @app.task(name="digest.send")
    def send() -> None: ...

    hourly = app.periodic_schedules["report.hourly"]
    tick = 60 * 29_000_000.0  # 2025-02-19 21:20 UTC, a multiple of the interval
    assert hourly.task.app.broker.claim_tick(hourly.message(tick), schedule=hourly.key, tick=tick)

    # When the dashboard is given the app's schedules
    dashboard = serve_dashboard(app.broker, periodic=list(app.periodic_schedules.values()))
    html = page(f"{dashboard.url}/periodic")

    # Then both are listed, the fired one with its last fire and the other with none
    rows = dict(re.findall(r"<td><code>([\w.]+)</code></td>(.*?)</tr>", html, re.S))
    assert set(rows) == {"report.hourly", "digest.monday"}
    assert "2025-02-19T21:20:00+00:00" in rows["report.hourly"]
    assert "0 9 * * 1" in rows["digest.monday"]
    assert rows["digest.monday"].rstrip().endswith("<td>-</td>")

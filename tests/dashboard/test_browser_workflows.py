"""The Workflows page in headless Chromium, with a real worker on a real redis-server.

The chord's members block on an event until the test releases them, so the page is seen with
the chord open; each wait is Selenium's WebDriverWait (a poll with a timeout) on what the live
refresh shows.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from tests.dashboard.conftest import PAGE_TIMEOUT
from tests.dashboard.test_browser import cell_text

from taskq_core import Taskq, Worker, chord

if TYPE_CHECKING:
    from collections.abc import Callable

    from selenium.webdriver.remote.webdriver import WebDriver
    from tests.dashboard.conftest import ServeDashboard

    from taskq_redis import RedisBroker

pytestmark = pytest.mark.redis


def row_attribute(browser: WebDriver, chord_id: str, name: str) -> str | None:
    """An attribute of the chord's row on the Workflows page (``None`` while it is not listed)."""
    rows = browser.find_elements(By.ID, f"chord-{chord_id}")
    return rows[0].get_attribute(name) if rows else None


def test_open_chord_progress_then_its_end(
    redis_broker: RedisBroker,
    serve_dashboard: ServeDashboard,
    browser: WebDriver,
    screenshot: Callable[[str], None],
) -> None:
    """A chord shows done/total while its members run, and leaves the page once it fired."""
    # Given a chord of four members run by a real worker, three of them held on an event
    app = Taskq(redis_broker)
    release = threading.Event()

    @app.task(name="etl.extract", queue="etl")
    def extract(part: int) -> int:
        if part > 0:
            release.wait(4 * PAGE_TIMEOUT)  # set by the test (or its cleanup) long before
        return part * 10

    @app.task(name="etl.load", queue="etl")
    def load(parts: list[int]) -> int:
        return sum(parts)

    result = chord([extract.s(i) for i in range(4)], load.s()).delay()
    worker = Worker(app, queues=["etl"], concurrency=4, heartbeat_interval=1.0, block_timeout=0.5)
    worker.start()
    try:
        dashboard = serve_dashboard(redis_broker)
        wait = WebDriverWait(browser, PAGE_TIMEOUT)
        # When the Workflows page is open
        browser.get(dashboard.url + "/workflows")
        # Then the chord is listed with one of four members done
        wait.until(lambda b: row_attribute(b, result.id, "data-done") == "1")
        assert row_attribute(browser, result.id, "data-size") == "4"
        assert "etl.load" in cell_text(browser, f"#chord-{result.id}")
        assert "1 / 4" in cell_text(browser, f"#chord-{result.id} td.progress")
        screenshot("dashboard-workflows")
        # And its detail view lists the members, the first one done
        browser.find_element(By.LINK_TEXT, result.id).click()
        wait.until(lambda b: cell_text(b, "#chord-done") == "1 / 4")
        statuses = [
            row.get_attribute("data-status")
            for row in browser.find_elements(By.CSS_SELECTOR, "table.members tbody tr")
        ]
        assert statuses == ["done", "waiting", "waiting", "waiting"]
        # When the members are released, on the (live) Workflows page
        browser.get(dashboard.url + "/workflows")
        wait.until(lambda b: row_attribute(b, result.id, "data-done") is not None)
        release.set()
        # Then the chord leaves the page, and its view shows the callback's result
        wait.until(lambda b: b.find_elements(By.ID, "workflows-none"))
        assert result.get(timeout=PAGE_TIMEOUT) == 60
        browser.get(f"{dashboard.url}/queues/etl/chords/{result.id}")
        assert cell_text(browser, "#chord-result") == "60"
    finally:
        release.set()
        worker.stop(timeout=5)

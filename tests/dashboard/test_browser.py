"""The dashboard in headless Chromium against a real redis-server.

Each test waits for what it expects with Selenium's WebDriverWait (a poll with a timeout): the
overview refreshes itself, so a count changes on the page without a reload.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from taskq_core import Taskq
from taskq_core.schemas import WorkerInfo

if TYPE_CHECKING:
    from collections.abc import Callable

    from selenium.webdriver.remote.webdriver import WebDriver
    from tests.dashboard.conftest import ServeDashboard

    from taskq_redis import RedisBroker

from tests.dashboard.conftest import PAGE_TIMEOUT

pytestmark = pytest.mark.redis


def cell_text(browser: WebDriver, selector: str) -> str:
    """Text of the element at ``selector``, or '' while the page does not show it."""
    found = browser.find_elements(By.CSS_SELECTOR, selector)
    return found[0].text if found else ""


def test_overview_counts_change_after_delay(
    redis_broker: RedisBroker,
    serve_dashboard: ServeDashboard,
    browser: WebDriver,
    screenshot: Callable[[str], None],
) -> None:
    """A delay() shows up in the queue's READY count without reloading the page."""
    # Given an app with one task, one call already queued, and the overview open
    app = Taskq(redis_broker)

    @app.task(name="mail.send_email", queue="emails")
    def send_email(to: str) -> None:
        """Never runs here: the test settles its deliveries itself."""

    for n in range(4):
        send_email.delay(f"{n}@example.com")
    held = redis_broker.reserve(["emails"], worker_id="w1", lease=30.0, limit=3)
    redis_broker.ack_many(held[:2])
    redis_broker.retry(held[2], delay=60.0, error="SMTP busy")
    dashboard = serve_dashboard(redis_broker)
    browser.get(dashboard.url + "/")
    wait = WebDriverWait(browser, PAGE_TIMEOUT)
    wait.until(lambda b: cell_text(b, "#queue-emails td.ready") == "1")
    assert cell_text(browser, "#queue-emails td.scheduled") == "1"
    # When two more calls are queued
    send_email.delay("b@example.com")
    send_email.delay("c@example.com")
    # Then the live refresh shows them in READY
    wait.until(lambda b: cell_text(b, "#queue-emails td.ready") == "3")
    assert cell_text(browser, "#queue-emails td.dead") == "0"
    screenshot("dashboard-overview")


def test_a_dead_task_is_found_by_id_and_requeued(
    redis_broker: RedisBroker,
    serve_dashboard: ServeDashboard,
    browser: WebDriver,
    screenshot: Callable[[str], None],
) -> None:
    """Task lookup finds a DEAD task; its Requeue button moves it back to READY."""
    # Given a task that died with a traceback (and a few finished ones for the charts)
    app = Taskq(redis_broker)

    @app.task(name="billing.charge", queue="billing")
    def charge(invoice: int) -> None:
        """Never runs here: the test settles its deliveries itself."""

    for invoice in range(4):
        charge.delay(invoice)
    held = redis_broker.reserve(["billing"], worker_id="w1", lease=30.0, limit=4)
    redis_broker.ack_many(held[:3])
    doomed = held[3]
    reason = 'ValueError: card declined\nTraceback (most recent call last):\n  File "billing.py"'
    assert redis_broker.dead(doomed, reason=reason)
    dashboard = serve_dashboard(redis_broker)
    wait = WebDriverWait(browser, PAGE_TIMEOUT)
    # When its id is looked up from the overview's search box
    browser.get(dashboard.url + "/")
    browser.find_element(By.ID, "lookup-id").send_keys(doomed.id)
    browser.find_element(By.ID, "lookup-go").click()
    # Then the task page shows it DEAD with its reason
    wait.until(lambda b: "DEAD" in cell_text(b, "#task-status"))
    assert "card declined" in cell_text(browser, "#task-reason")
    screenshot("dashboard-task")
    # When the DEAD page of its queue is opened and its Requeue button clicked
    browser.find_element(By.LINK_TEXT, "DEAD messages of billing").click()
    row = wait.until(ec.presence_of_element_located((By.ID, f"dead-{doomed.id}")))
    screenshot("dashboard-dead")
    row.find_element(By.CSS_SELECTOR, "button.requeue").click()
    # Then the page says so, the row is gone, and the broker holds it in READY
    wait.until(lambda b: "requeued 1" in cell_text(b, "#notice"))
    assert browser.find_elements(By.ID, f"dead-{doomed.id}") == []
    counts = redis_broker.counts("billing")
    assert (counts.ready, counts.dead) == (1, 0)
    info = redis_broker.message_info("billing", doomed.id)
    assert info is not None
    assert info.state == "ready"


def test_workers_page_shows_heartbeats(
    redis_broker: RedisBroker,
    serve_dashboard: ServeDashboard,
    browser: WebDriver,
    screenshot: Callable[[str], None],
) -> None:
    """Host, pid, pool, concurrency and in-flight count come from the worker's heartbeat."""
    # Given a worker that heartbeated
    worker = WorkerInfo(
        worker_id="web-1:4242:ab12",
        hostname="web-1",
        pid=4242,
        queues=("emails", "billing"),
        concurrency=8,
        pool="threads",
        in_flight=3,
    )
    redis_broker.send_heartbeat(worker)
    dashboard = serve_dashboard(redis_broker)
    # When the workers page is opened
    browser.get(dashboard.url + "/workers")
    # Then its row shows what the heartbeat said
    wait = WebDriverWait(browser, PAGE_TIMEOUT)
    wait.until(lambda b: "web-1:4242:ab12" in cell_text(b, "table.workers"))
    row = cell_text(browser, "table.workers tbody tr")
    for expected in ("web-1", "4242", "emails, billing", "threads", "8", "3"):
        assert expected in row
    screenshot("dashboard-workers")

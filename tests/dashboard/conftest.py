"""Dashboard fixtures: a real uvicorn server on a free loopback port, a broker on the session's
real redis-server (the root conftest's ``redis_url``), and headless Chromium driven by Selenium.

Like the redis-server, the browser skips locally when missing and fails when ``CI`` is set, so
a CI run can never pass by skipping the browser tests. Screenshots for
``docs/monitoring.md`` are written when ``TASKQ_DASHBOARD_SCREENSHOTS`` names a directory.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

from taskq_core.broker import BaseBroker
from taskq_core.dashboard import Credentials, create_app
from taskq_core.periodic.schedule import Periodic
from taskq_redis import RedisBroker

from ..support.redis_server import delete_prefix, missing
from ..support.waiting import wait_until

SCREENSHOTS_ENV = "TASKQ_DASHBOARD_SCREENSHOTS"
#: Seconds a server may take to start or stop, and a page to show what a test waits for.
STARTUP_TIMEOUT = 30.0
PAGE_TIMEOUT = 30.0
#: Flags headless Chromium needs in a container without a GPU or network services.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,900",
)


@pytest.fixture
def redis_broker(redis_url: str, prefix: str) -> Iterator[RedisBroker]:
    """A broker on the real server under a prefix of its own; its keys are deleted afterwards."""
    broker = RedisBroker(redis_url, prefix=prefix)
    broker.connect()
    yield broker
    delete_prefix(broker.client, prefix)
    broker.close()


@dataclass
class Dashboard:
    """A dashboard served on a free loopback port."""

    url: str
    server: uvicorn.Server


ServeDashboard = Callable[..., Dashboard]


@pytest.fixture
def serve_dashboard() -> Iterator[ServeDashboard]:
    """Start dashboards on free ports (``serve_dashboard(broker, credentials=...)``)."""
    running: list[tuple[uvicorn.Server, threading.Thread]] = []

    def serve(
        broker: BaseBroker,
        credentials: Credentials | None = None,
        periodic: Sequence[Periodic] | None = None,
    ) -> Dashboard:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(broker, credentials=credentials, periodic=periodic),
            log_level="warning",
            lifespan="off",
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        running.append((server, thread))
        wait_until(
            lambda: _started(server, thread),
            what="the dashboard server started",
            timeout=STARTUP_TIMEOUT,
        )
        return Dashboard(url=f"http://127.0.0.1:{port}", server=server)

    yield serve
    for server, thread in running:
        server.should_exit = True
        thread.join(STARTUP_TIMEOUT)


def _started(server: uvicorn.Server, thread: threading.Thread) -> bool:
    assert thread.is_alive(), "the dashboard server stopped while starting"
    return bool(server.started)


@pytest.fixture(scope="session")
def chromium_paths() -> tuple[str, str]:
    """The Chromium binary and its driver (Debian's chromium and chromium-driver packages)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        missing(
            "chromium and chromedriver not installed (apt-get install chromium chromium-driver);"
            " CI must run the dashboard's browser tests"
        )
        raise AssertionError("unreachable")
    return browser, driver


@pytest.fixture
def browser(chromium_paths: tuple[str, str]) -> Iterator[WebDriver]:
    """Headless Chromium with a fresh profile, driven by Selenium."""
    binary, driver_path = chromium_paths
    profile = tempfile.mkdtemp(prefix="taskq-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def screenshot(browser: WebDriver) -> Callable[[str], None]:
    """Save the page as ``<name>.png`` under ``$TASKQ_DASHBOARD_SCREENSHOTS``, if set."""

    def save(name: str) -> None:
        folder = os.environ.get(SCREENSHOTS_ENV)
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            browser.save_screenshot(str(Path(folder) / f"{name}.png"))

    return save

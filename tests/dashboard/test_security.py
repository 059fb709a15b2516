"""Who may use the dashboard: the bind rule, authentication and CSRF protection.

Requests go over real HTTP to a real uvicorn server (the standard library's urllib, which
follows no redirect here), on the in-memory broker: these rules do not depend on the backend.
"""

from __future__ import annotations

import base64
import urllib.error
import urllib.parse
import urllib.request
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from taskq_core.cli import main
from taskq_core.dashboard import Credentials, check_bind
from taskq_core.errors import ConfigurationError
from taskq_core.schemas import Message
from taskq_memory import MemoryBroker

if TYPE_CHECKING:
    from tests.dashboard.conftest import ServeDashboard

QUEUE = "billing"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def request(
    url: str,
    *,
    form: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], str]:
    """Status, headers (Set-Cookie values joined) and body of one request; no redirect followed."""
    data = None if form is None else urllib.parse.urlencode(form).encode()
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with _opener.open(req, timeout=30) as response:
            status, raw_headers, body = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, raw_headers, body = error.code, error.headers, error.read()
    found = {k.lower(): v for k, v in raw_headers.items()}
    found["set-cookie"] = "\n".join(raw_headers.get_all("set-cookie") or [])
    return status, found, body.decode()


def cookies_of(headers: dict[str, str]) -> dict[str, str]:
    """Cookie name -> value from the Set-Cookie headers."""
    jar: SimpleCookie = SimpleCookie()
    for line in headers["set-cookie"].splitlines():
        jar.load(line)
    return {name: morsel.value for name, morsel in jar.items()}


@pytest.fixture
def broker_with_dead() -> tuple[MemoryBroker, str]:
    """A memory broker with one DEAD message in QUEUE; returns it and the message id."""
    broker = MemoryBroker()
    message = Message(task="billing.charge", queue=QUEUE, args=(1,))
    broker.send(message)
    (held,) = broker.reserve([QUEUE], worker_id="w1", lease=30.0)
    broker.dead(held, reason="ValueError: declined")
    return broker, message.id


def test_post_without_the_csrf_token_is_refused(
    broker_with_dead: tuple[MemoryBroker, str], serve_dashboard: ServeDashboard
) -> None:
    """A requeue without the form token, or with a wrong one, changes nothing (403)."""
    broker, message_id = broker_with_dead
    dashboard = serve_dashboard(broker)
    requeue = f"{dashboard.url}/queues/{QUEUE}/dead/requeue"
    # Given the session cookie a browser gets from the DEAD page
    status, headers, page = request(f"{dashboard.url}/queues/{QUEUE}/dead")
    assert status == 200
    token = cookies_of(headers)["taskq_csrf"]
    assert f'value="{token}"' in page
    assert "samesite=strict" in headers["set-cookie"].lower()
    cookie = {"Cookie": f"taskq_csrf={token}"}
    # When a POST comes without the token, with a wrong one, or without the cookie
    refused = [
        request(requeue, form={"id": message_id}, headers=cookie)[0],
        request(requeue, form={"id": message_id, "csrf_token": "forged"}, headers=cookie)[0],
        request(requeue, form={"id": message_id, "csrf_token": token})[0],
    ]
    # Then each is refused and the message stays DEAD
    assert refused == [403, 403, 403]
    assert broker.counts(QUEUE).dead == 1
    # And with cookie and token together the same POST works
    status, headers, _ = request(
        requeue, form={"id": message_id, "csrf_token": token}, headers=cookie
    )
    assert status == 303
    assert broker.counts(QUEUE).dead == 0


def test_purge_needs_the_csrf_token_too(
    broker_with_dead: tuple[MemoryBroker, str], serve_dashboard: ServeDashboard
) -> None:
    """Purging DEAD is refused without the token."""
    broker, _ = broker_with_dead
    dashboard = serve_dashboard(broker)
    status, _, _ = request(f"{dashboard.url}/queues/{QUEUE}/dead/purge", form={})
    assert status == 403
    assert broker.counts(QUEUE).dead == 1


def test_a_token_protected_dashboard_refuses_requests_without_it(
    serve_dashboard: ServeDashboard,
) -> None:
    """401 without credentials; a bearer header, or ?token= once then its cookie, get in."""
    dashboard = serve_dashboard(MemoryBroker(), Credentials(token="s3cret"))
    # Without the token, and with a wrong one, every page is refused
    assert request(f"{dashboard.url}/")[0] == 401
    assert request(f"{dashboard.url}/static/htmx.min.js")[0] == 401
    assert request(f"{dashboard.url}/", headers={"Authorization": "Bearer nope"})[0] == 401
    # A bearer header gets in
    assert request(f"{dashboard.url}/", headers={"Authorization": "Bearer s3cret"})[0] == 200
    # ?token= is traded for a session cookie that does not hold the token
    status, headers, _ = request(f"{dashboard.url}/workers?token=s3cret")
    assert (status, headers["location"]) == (303, "/workers")
    session = cookies_of(headers)["taskq_session"]
    assert "s3cret" not in session
    assert request(f"{dashboard.url}/", headers={"Cookie": f"taskq_session={session}"})[0] == 200
    assert request(f"{dashboard.url}/", headers={"Cookie": "taskq_session=forged"})[0] == 401


def test_basic_auth_is_checked(serve_dashboard: ServeDashboard) -> None:
    """Basic auth: right credentials get in; wrong ones get 401 with a challenge."""
    dashboard = serve_dashboard(MemoryBroker(), Credentials(basic=("ops", "pa:ss")))

    def basic(user: str, password: str) -> dict[str, str]:
        encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {encoded}"}

    assert request(f"{dashboard.url}/", headers=basic("ops", "pa:ss"))[0] == 200
    status, headers, _ = request(f"{dashboard.url}/", headers=basic("ops", "wrong"))
    assert status == 401
    assert headers["www-authenticate"].startswith("Basic")


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_loopback_binds_need_no_credentials(host: str) -> None:
    """Loopback addresses are private to the machine: no credentials needed."""
    check_bind(host, Credentials())


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "dashboard.example.com"])
def test_other_binds_need_credentials(host: str) -> None:
    """Any other address is refused without credentials, accepted with either kind."""
    with pytest.raises(ConfigurationError, match="without authentication"):
        check_bind(host, Credentials())
    check_bind(host, Credentials(token="t"))
    check_bind(host, Credentials(basic=("u", "p")))


def test_cli_refuses_a_public_bind_without_auth_in_one_line() -> None:
    """`taskq dashboard --host 0.0.0.0` without auth exits 1 with one line, serving nothing."""
    result = CliRunner().invoke(
        main,
        ["dashboard", "--broker", "memory://", "--host", "0.0.0.0"],
        env={"TASKQ_DASHBOARD_TOKEN": None, "TASKQ_DASHBOARD_BASIC_AUTH": None},
    )
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert "refusing to serve the dashboard on 0.0.0.0 without authentication" in lines[0]


def test_cli_refuses_malformed_basic_auth_without_echoing_it() -> None:
    """A --basic-auth without a password is one line that does not print the value."""
    result = CliRunner().invoke(
        main, ["dashboard", "--broker", "memory://", "--basic-auth", "hunter2"]
    )
    assert result.exit_code == 1
    assert "USER:PASSWORD" in result.output
    assert "hunter2" not in result.output


def test_cli_without_the_extra_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without uvicorn (the extra not installed) the command names the extra in one line."""
    import sys

    for name in [m for m in sys.modules if m.startswith("taskq_core.dashboard")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    result = CliRunner().invoke(main, ["dashboard", "--broker", "memory://"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: taskq dashboard needs uvicorn: pip install 'taskq-core[dashboard]'"
    )


def test_metrics_are_behind_the_same_auth_and_count_the_broker(
    serve_dashboard: ServeDashboard, broker_with_dead: tuple[MemoryBroker, str]
) -> None:
    """/metrics: refused without the token; with it, gauges that match the broker's counts."""
    from prometheus_client.parser import text_string_to_metric_families

    # Given a broker with one DEAD and two READY messages in QUEUE, behind a token
    broker, _ = broker_with_dead
    for n in range(2):
        broker.send(Message(task="billing.charge", queue=QUEUE, args=(n,)))
    dashboard = serve_dashboard(broker, Credentials(token="s3cret"))

    # When /metrics is scraped without and with the token
    assert request(f"{dashboard.url}/metrics")[0] == 401
    status, headers, body = request(
        f"{dashboard.url}/metrics", headers={"Authorization": "Bearer s3cret"}
    )

    # Then it parses as Prometheus text, with the queue's counts
    assert status == 200
    assert headers["content-type"].startswith("text/plain")
    samples = {
        (sample.name, sample.labels["queue"]): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }
    assert samples[("taskq_queue_ready", QUEUE)] == 2
    assert samples[("taskq_queue_dead", QUEUE)] == 1
    assert samples[("taskq_queue_processing", QUEUE)] == 0

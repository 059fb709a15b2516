"""Broker URLs are printed without their secrets: in repr(app), app.broker_url and errors."""

from __future__ import annotations

import pytest

from taskq_core import ConfigurationError, Taskq
from taskq_core.backends import connect
from taskq_core.urls import redact_url

SECRET = "hunter2"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://alice:hunter2@h:6379/0", "redis://***@h:6379/0"),
        ("redis://:hunter2@h/0", "redis://***@h/0"),
        ("rediss://u:p@ss:hunter2@h/0", "rediss://***@h/0"),
        ("redis://u:hun#ter2@h/0", "redis://***@h/0"),
        ("redis://u:hun/ter2@h/0", "redis://***@h/0"),
        ("redis://u:hun?ter2@h/0", "redis://***@h/0"),
        ("redis://h/0?password=hunter2&db=1", "redis://h/0?password=***&db=1"),
        ("redis://h/0?db=1&PASSWORD=hunter2#x", "redis://h/0?db=1&PASSWORD=***#x"),
        ("unix://u:hunter2@/run/redis.sock?db=2", "unix://***@/run/redis.sock?db=2"),
        ("redis://h:6379/0", "redis://h:6379/0"),
        ("memory://", "memory://"),
    ],
)
def test_redact_url_hides_user_information_and_the_password_option(url: str, shown: str):
    # Given a URL with or without secrets, well-formed or not
    # When it is redacted, then everything before the last "@" and the password option are gone
    assert redact_url(url) == shown


def test_repr_and_broker_url_of_an_app_hide_the_password():
    # Given an app whose URL carries a password
    app = Taskq("redis://alice:hunter2@redis.example:6379/0")

    # When it is shown, then the password is not
    assert SECRET not in repr(app)
    assert SECRET not in str(app.broker_url)
    assert app.broker_url == "redis://***@redis.example:6379/0"

    # And the URL to connect with still has it, for whoever must connect elsewhere
    assert app.reveal_broker_url() == "redis://alice:hunter2@redis.example:6379/0"


def test_an_app_from_the_environment_hides_the_password(monkeypatch: pytest.MonkeyPatch):
    # Given TASKQ_BROKER_URL carries a password in a query option
    monkeypatch.setenv("TASKQ_BROKER_URL", "redis://h/0?password=hunter2")

    # When an app is built from it, then neither repr nor broker_url shows it
    app = Taskq()
    assert SECRET not in repr(app)
    assert SECRET not in str(app.broker_url)


@pytest.mark.parametrize(
    "url", ["u:hunter2@host/0", "memory://u:hunter2@x", "rediss://u:hunter2@[::1/0"]
)
def test_an_unusable_url_error_hides_the_password(url: str):
    # Given a URL with no scheme, a memory:// URL with user information, an unclosed "["
    # When it is resolved, then the one-line error does not show the password
    with pytest.raises(ConfigurationError) as failure:
        connect(url).connect()
    assert SECRET not in str(failure.value)


@pytest.mark.parametrize(
    "url", ["redis://alice:hunter2@h:6379/0", "redis://h/0?password=hunter2&db=1"]
)
def test_connecting_with_a_redacted_url_says_so_instead_of_failing_auth(url: str):
    # Given an app's broker_url, which hides the password
    shown = Taskq(url).broker_url
    assert shown is not None

    # When something tries to connect with it (a process handed the wrong URL)
    # Then one line says the URL was redacted and where the real one is
    with pytest.raises(ConfigurationError, match=r"password hidden.*reveal_broker_url"):
        connect(shown)

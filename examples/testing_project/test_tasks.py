"""The sign-up flow's tests: fixtures from taskq's pytest plugin, no configuration needed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from signup.tasks import FLAKY_FAILURES, OUTBOX, THREE_DAYS, send_mail, sign_up


@pytest.fixture(autouse=True)
def clean_outbox() -> Iterator[None]:
    OUTBOX.clear()
    FLAKY_FAILURES["left"] = 0
    yield
    OUTBOX.clear()


def test_sign_up_sends_the_welcome_and_the_reminder(taskq_worker, taskq_clock):
    start = taskq_clock.now()
    sign_up.delay("ada@example.com")

    outcomes = taskq_worker.drain()  # runs the reminder too: the clock jumps three days ahead

    assert outcomes == {"acked": 3}
    assert OUTBOX == ["ada@example.com: welcome", "ada@example.com: still there?"]
    assert taskq_clock.now() == start + THREE_DAYS


def test_a_flaky_mail_server_is_retried(taskq_worker):
    FLAKY_FAILURES["left"] = 2
    result = send_mail.delay("bob@example.com", "hello")

    outcomes = taskq_worker.drain()

    assert outcomes["retried"] == 2
    assert result.get(timeout=0) == "hello"


def test_a_dead_mail_server_ends_in_dead(taskq_app, taskq_worker):
    FLAKY_FAILURES["left"] = 10
    send_mail.delay("eve@example.com", "hello")

    outcomes = taskq_worker.drain()

    assert outcomes == {"retried": 3, "dead": 1}
    assert taskq_app.broker.counts(taskq_app.default_queue).dead == 1
    assert OUTBOX == []

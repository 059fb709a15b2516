"""Producer side of revoke and expiry: ``expires=`` becomes the message's epoch expiry, and
``app.revoke`` finds an id in any queue."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pytest

from taskq_core import ConfigurationError, TaskExpired, TaskRevoked
from taskq_core.control import expires_at

if TYPE_CHECKING:
    from taskq_core import FakeClock, Taskq
    from taskq_memory import MemoryBroker


def test_expires_accepts_seconds_a_duration_and_an_aware_moment() -> None:
    moment = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    assert expires_at(None, 100.0) is None
    assert expires_at(30, 100.0) == 130.0
    assert expires_at(dt.timedelta(minutes=1), 100.0) == 160.0
    assert expires_at(moment, 100.0) == moment.timestamp()


@pytest.mark.parametrize(
    ("expires", "words"),
    [
        (-1.0, "expires must be a finite number of seconds >= 0"),
        (float("nan"), "expires must be a finite number of seconds >= 0"),
        (dt.datetime(2030, 1, 1), "expires must be timezone-aware"),
    ],
)
def test_a_bad_expires_is_one_clear_error(expires: object, words: str) -> None:
    with pytest.raises(ConfigurationError, match=words):
        expires_at(expires, 100.0)  # type: ignore[arg-type]


def test_the_calls_expires_wins_over_the_tasks(
    app: Taskq, broker: MemoryBroker, clock: FakeClock
) -> None:
    # Given a task whose calls expire 60 s after they are sent
    @app.task(name="tests.quote", expires=60)
    def quote() -> str:
        return "fresh"

    # When it is sent with and without its own expiry
    default = quote.delay()
    own = quote.apply_async(expires=5)
    never = app.tasks["tests.quote"].apply_async(expires=dt.timedelta(hours=1))

    # Then each message carries the epoch second it expires at
    def expiry(handle_id: str) -> float | None:
        info = broker.message_info("default", handle_id)
        assert info is not None
        assert info.message is not None
        return info.message.expires

    now = clock.now()
    assert expiry(default.id) == now + 60
    assert expiry(own.id) == now + 5
    assert expiry(never.id) == now + 3600


def test_a_task_without_expires_sends_messages_that_never_expire(
    app: Taskq, broker: MemoryBroker
) -> None:
    @app.task(name="tests.plain")
    def plain() -> None: ...

    handle = plain.delay()
    info = broker.message_info("default", handle.id)
    assert info is not None
    assert info.message is not None
    assert info.message.expires is None
    assert '"expires"' not in info.payload  # left off the wire while empty


def test_get_of_an_expired_call_raises_task_expired(
    app: Taskq, broker: MemoryBroker, clock: FakeClock
) -> None:
    # Given a call that expires in 1 s, and 2 s that pass before a worker reserves
    @app.task(name="tests.quote")
    def quote() -> str:
        return "fresh"

    handle = quote.apply_async(expires=1)
    clock.advance(2)
    assert broker.reserve(["default"], worker_id="w", lease=30.0) == []

    # Then get() raises TaskExpired and the status says EXPIRED
    with pytest.raises(TaskExpired, match="expired before it started"):
        handle.get(timeout=0)
    assert (handle.status, handle.ready(), handle.failed()) == ("EXPIRED", True, False)


def test_app_revoke_without_a_queue_finds_the_id_in_any_queue(
    app: Taskq, broker: MemoryBroker
) -> None:
    # Given a message in a queue other than the default one
    @app.task(name="tests.mail", queue="emails")
    def mail() -> None: ...

    @app.task(name="tests.other")
    def other() -> None: ...

    other.delay()
    handle = mail.delay()

    # When it is revoked by id alone
    assert app.revoke(handle.id) == "revoked"

    # Then it is gone from its queue, and get() raises TaskRevoked
    assert broker.counts("emails").ready == 0
    assert broker.counts("default").ready == 1
    with pytest.raises(TaskRevoked):
        app.AsyncResult(handle.id).get(timeout=0)
    assert app.revoke("no-such-id") == "absent"

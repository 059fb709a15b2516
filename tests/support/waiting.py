"""Waiting in tests: poll a condition or wait for an event against a deadline, never sleep.

A deadline is reached only when something is broken, so it is generous; the failure says what
was awaited and, through ``describe``, the state of the world at that moment.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

import pytest

#: Longest wait for any condition, in seconds; reached only when something is broken.
WAIT_TIMEOUT = 30.0
#: Pause between two looks at a polled condition, in seconds.
POLL = 0.01

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T],
    *,
    timeout: float = WAIT_TIMEOUT,
    what: str | Callable[[], str] = "",
    describe: Callable[[], str] | None = None,
    poll: float = POLL,
) -> T:
    """Return ``condition()``'s first truthy value; fail the test if none came by the deadline.

    ``what`` names the condition in the failure (a callable is asked only then); ``describe()``
    adds the state of the world to it. ``poll`` spaces the looks, for conditions that cost a
    round trip to a server.
    """
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            named = what() if callable(what) else what
            details = f"\n{describe()}" if describe is not None else ""
            raise AssertionError(f"not met within {timeout:g} s: {named or condition}{details}")
        pause.wait(poll)


def wait_for(event: threading.Event, *, timeout: float = WAIT_TIMEOUT) -> None:
    """Wait for ``event``; fail the test if it is not set by the deadline."""
    if not event.wait(timeout):
        pytest.fail(f"event was not set within {timeout:g} s")

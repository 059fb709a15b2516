"""The worker's link to its broker: one line when it is lost, one when it comes back.

Every part of a worker (heartbeat, reaper, acker, pool threads settling a task) reports to
one :class:`BrokerLink` whether its broker call went through. During an outage the parts that
retry log their own attempts; the link adds a single INFO line when a call succeeds again,
so an operator sees where an outage ended without reading tracebacks.

:func:`patiently` is how a settlement (ack, retry, dead) survives an outage: the broker's own
retries span a few seconds, while the delivery's lease, which the worker still holds, may run
for much longer; giving up before it runs out would leave the message to be run again for
nothing. A repeated ack that finds its own earlier ack applied counts as acked (the brokers
keep a tombstone), so retrying one whose reply was lost is safe.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, TypeVar

from taskq_core.errors import BrokerUnavailable

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger("taskq.worker")

T = TypeVar("T")

#: First pause between two attempts of a settlement while the broker is unreachable, in
#: seconds; it doubles up to :data:`LONGEST_PAUSE_SECONDS`.
FIRST_PAUSE_SECONDS = 0.25
LONGEST_PAUSE_SECONDS = 2.0


class BrokerLink:
    """Whether the worker's broker calls go through; logs when they do again after failing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: ``time.monotonic()`` of the first failure of the current outage, ``None`` when up.
        self._down_since: float | None = None
        self._failures = 0

    @property
    def down(self) -> bool:
        """Whether the last call that reported failed."""
        return self._down_since is not None

    def failed(self) -> None:
        """A broker call failed because the broker could not be reached."""
        with self._lock:
            if self._down_since is None:
                self._down_since = time.monotonic()
            self._failures += 1

    def succeeded(self) -> None:
        """A broker call went through; logs "reconnected" once after failures."""
        if self._down_since is None:  # the common case: no lock on the hot path
            return
        with self._lock:
            if self._down_since is None:
                return
            lasted, failures = time.monotonic() - self._down_since, self._failures
            self._down_since, self._failures = None, 0
        log.info(
            "reconnected to the broker after %.1fs (%d failed call%s)",
            lasted,
            failures,
            "" if failures == 1 else "s",
        )


def one_line(exc: BaseException) -> str:
    """``exc`` as one log line: its type and the first line of its message."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def patiently(
    call: Callable[[], T], *, until: Callable[[], float], link: BrokerLink, what: str
) -> T:
    """Run a settling broker call, trying again while the broker is unreachable.

    Args:
        call: The broker call (its own connection retries included).
        until: Gives the ``time.monotonic()`` after which no new attempt starts: the lease
            deadline, after which the message belongs to the reaper anyway. Asked only
            after a failure, so the common case costs nothing.
        link: Told about every failure and success.
        what: What is being settled, for the log line of its first failed attempt.

    Raises:
        BrokerUnavailable: the broker was still unreachable at ``until``.
    """
    pause = FIRST_PAUSE_SECONDS
    attempts = 0
    deadline: float | None = None
    while True:
        try:
            answer = call()
        except BrokerUnavailable as exc:
            link.failed()
            attempts += 1
            if deadline is None:
                deadline = until()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise
            if attempts == 1:
                log.warning(
                    "could not settle %s: %s; trying again until its lease runs out (%.0fs)",
                    what,
                    one_line(exc),
                    remaining,
                )
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, LONGEST_PAUSE_SECONDS)
            continue
        link.succeeded()
        return answer

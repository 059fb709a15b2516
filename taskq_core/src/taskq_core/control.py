"""Revoke and expiry on the producer's side: which queue to revoke in, and when a call expires.

The broker does the work (``Revocation.revoke``, and ``reserve`` ending expired messages); this
module turns what a caller has (an id with or without its queue, ``expires=`` as seconds, a
``timedelta`` or a ``datetime``) into those calls. See docs/control.md.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING

from taskq_core.broker import DEFAULT_RESULT_TTL
from taskq_core.capabilities import Revocation
from taskq_core.errors import ConfigurationError

if TYPE_CHECKING:
    from taskq_core.broker import BaseBroker
    from taskq_core.capabilities import RevokeOutcome

#: What ``expires=`` accepts: seconds from the send, a duration, or an aware moment.
Expires = float | dt.timedelta | dt.datetime


def revoke(
    broker: BaseBroker,
    message_id: str,
    *,
    queue: str | None = None,
    terminate: bool = False,
    result_ttl: float = DEFAULT_RESULT_TTL,
) -> RevokeOutcome:
    """Revoke ``message_id`` in ``queue``, or in the first known queue that holds it.

    Without a queue every queue the broker knows is asked in turn (one call each) until one
    holds the id: revocation is kept per queue, with the message it stops.
    """
    revocation = Revocation.require(broker, "revoke")
    names = [queue] if queue is not None else broker.queues()
    for name in names:
        outcome = revocation.revoke(name, message_id, terminate=terminate, result_ttl=result_ttl)
        if outcome != "absent":
            return outcome
    return "absent"


def expires_at(expires: Expires | None, now: float) -> float | None:
    """The epoch second a call expires at, from ``expires=`` as given at ``now``.

    Raises:
        ConfigurationError: a negative or non-finite number of seconds, or a naive datetime.
    """
    if expires is None:
        return None
    if isinstance(expires, dt.datetime):
        if expires.tzinfo is None:
            raise ConfigurationError("expires must be timezone-aware (e.g. datetime.now(UTC))")
        return expires.timestamp()
    seconds = expires.total_seconds() if isinstance(expires, dt.timedelta) else float(expires)
    if not math.isfinite(seconds) or seconds < 0:
        raise ConfigurationError(f"expires must be a finite number of seconds >= 0, got {expires}")
    return now + seconds

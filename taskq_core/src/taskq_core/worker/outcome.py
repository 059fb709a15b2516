"""How a delivery ended for the worker that held it: one :class:`Outcome` per delivery.

The outcome names the settling broker call that was answered (``ACKED``, ``RETRIED``,
``DEAD``, ``POSTPONED``, ``REVOKED``, ``EXPIRED``) or why none took effect (``LOST``: the lease
had passed to another owner, or the child process running the task died; ``ERROR``: the broker
failed until the lease ran out). ``Worker.stats`` counts them, and ``taskq_deliveries_settled``
reports them. An :class:`Outcome` is a ``str``, so plugins and tests may compare it with
``"acked"``.
"""

from __future__ import annotations

import enum

__all__ = ["Outcome"]


class Outcome(enum.StrEnum):
    """The end of one delivery, as its worker saw it."""

    #: The task returned; its ack (with its result) was applied.
    ACKED = "acked"
    #: The task failed and its retry policy scheduled another attempt.
    RETRIED = "retried"
    #: The task failed for good (or cannot run here) and went to DEAD.
    DEAD = "dead"
    #: A rate limit had no grant: the message was scheduled for when one could exist.
    POSTPONED = "postponed"
    #: ``revoke(terminate=True)`` stopped it, or it was revoked before it started.
    REVOKED = "revoked"
    #: It was reserved in time but not started before its ``expires``.
    EXPIRED = "expired"
    #: Its settling call was refused (the lease was lost) or its child process died.
    LOST = "lost"
    #: The broker failed while settling it; its lease brings the message back.
    ERROR = "error"

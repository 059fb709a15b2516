"""Control of a queue from outside the workers: revoking messages, pausing and capping queues.

``app.revoke`` / ``AsyncResult.revoke`` and ``taskq revoke`` need :class:`Revocation`;
``app.pause`` / ``resume``, ``taskq pause`` / ``resume`` and ``app.queue_limits`` need
:class:`QueueControl` (see docs/control.md).
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Literal

from taskq_core.broker import DEFAULT_RESULT_TTL
from taskq_core.capabilities.base import Capability

if TYPE_CHECKING:
    from collections.abc import Sequence

#: What :meth:`Revocation.revoke` found: ``revoked`` (it was READY or SCHEDULED and is gone,
#: its result REVOKED), ``running`` (PROCESSING: it will not start again, and with
#: ``terminate`` its worker was told to stop it) or ``absent`` (the queue does not hold it, or
#: holds it in DEAD: nothing changed).
RevokeOutcome = Literal["revoked", "running", "absent"]


class Revocation(Capability):
    """Capability: revoke a message wherever it is, and tell its worker to stop running it."""

    offers = "revocation"

    @abc.abstractmethod
    def revoke(
        self,
        queue: str,
        message_id: str,
        *,
        terminate: bool = False,
        result_ttl: float = DEFAULT_RESULT_TTL,
    ) -> RevokeOutcome:
        """Revoke ``message_id`` in ``queue``: it is not run (again).

        READY or SCHEDULED: the message leaves the broker in one atomic step, counted as
        ``revoked`` in the history, and a ``REVOKED`` result is stored for ``result_ttl``.
        PROCESSING: the revocation is kept with the message, so whatever would run it again (a
        retry, a lease recovered after its worker died, a worker that starts later) ends it
        ``REVOKED`` at :meth:`reserve` instead; a running task is left alone unless
        ``terminate``, which also tells the owner worker (:meth:`wait_terminations`) to stop it.
        DEAD or unknown: nothing changes. Idempotent.
        """

    @abc.abstractmethod
    def wait_terminations(
        self, worker_id: str, queues: Sequence[str], *, timeout: float
    ) -> list[str]:
        """Ids of messages in ``queues`` that :meth:`revoke` asked ``worker_id`` to terminate.

        Waits up to ``timeout`` real seconds, without polling, for the first request; each is
        answered once (kept in the broker until then, so a request made while the worker was
        between two calls is not lost). A request may name a message the worker holds no more.
        """


class QueueControl(Capability):
    """Capability: pause and resume a queue, and cap how many of its messages run at once."""

    offers = "queue control (pause, resume, in-flight caps)"

    @abc.abstractmethod
    def pause(self, queue: str) -> bool:
        """Stop ``reserve`` from handing out messages of ``queue``, for every worker at once.

        Stored in the broker and checked inside the atomic reserve itself, so no worker polls
        for it and none takes a message of the queue after this returns. Sends still write,
        due SCHEDULED messages may still become READY, and messages already in PROCESSING
        settle as usual. Returns ``False`` when the queue was paused already.
        """

    @abc.abstractmethod
    def resume(self, queue: str) -> bool:
        """Let ``reserve`` hand out messages of ``queue`` again.

        Wakes reserves blocked on the queue the way a send does, so waiting workers start its
        READY messages promptly. Returns ``False`` when the queue was not paused.
        """

    @abc.abstractmethod
    def paused(self, queue: str) -> bool:
        """Whether ``queue`` is paused (:meth:`pause`)."""

    @abc.abstractmethod
    def set_queue_limit(self, queue: str, *, max_in_flight: int | None) -> None:
        """Cap how many messages of ``queue`` may be in PROCESSING at once, across all workers.

        ``None`` removes the cap; a cap below 1 raises ``ValueError`` (pausing a queue is not
        what a cap is for). The cap is stored in the broker, so every worker obeys the same one;
        messages already in PROCESSING above a lowered cap are left alone. A capped queue that is
        full counts as empty for ``reserve``, which moves on to the next queue.
        """

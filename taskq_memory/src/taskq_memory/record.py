"""One message id's record in the in-process backend: its payload and its delivery state.

The delivery state (counters, owner, lease) lives beside the payload and never in it, as in the
Redis ``state`` hash, so a payload is written once and never rewritten.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from taskq_core.errors import MessageDecodeError
from taskq_core.schemas import DeadLetter, EndStatus, Message


class State(enum.Enum):
    """Where a message id currently is; an acked id has no record at all."""

    READY = "ready"
    SCHEDULED = "scheduled"
    PROCESSING = "processing"
    DEAD = "dead"


@dataclass(slots=True)
class Record:
    """Everything the broker knows about one message id: the payload plus the delivery state.

    The delivery state (counters, owner, lease) lives here and never in the payload, as in the
    Redis ``state`` hash, so a payload is written once and never rewritten.

    Attributes:
        id: The message id.
        payload: The JSON text as sent; decoded only at reserve and when listing DEAD.
        priority: READY level the message waits in (0-9, larger first).
        max_deliveries: Lost leases the message survives before it goes to DEAD.
        state: Current state.
        deliveries: Delivery count; the token of the latest reservation (fencing). It only grows,
            even across ``requeue_dead``, so a token is never handed out twice.
        retries: Exception retries counted by ``retry``.
        losses: Leases lost (recovered by the reaper).
        owner: Worker holding the lease while PROCESSING.
        lease_deadline: When the lease expires while PROCESSING.
        last_error: Error text of the latest retry.
        reason: Why the message is DEAD.
        died_at: When the message went to DEAD.
        eta: When the message is due while SCHEDULED.
        unique_key: The unique key the message holds until done (released by ack and DEAD).
        expires: When the message expires unstarted (``None``: never), as Redis' state ``v``.
        revoked: Revoked while PROCESSING: whatever would run it again ends it REVOKED.
    """

    id: str
    payload: str
    priority: int
    max_deliveries: int
    state: State = State.READY
    deliveries: int = 0
    retries: int = 0
    losses: int = 0
    owner: str | None = None
    lease_deadline: float = 0.0
    last_error: str | None = None
    reason: str = ""
    died_at: float = 0.0
    eta: float = 0.0
    unique_key: str | None = None
    expires: float | None = None
    revoked: bool = False

    @classmethod
    def of(cls, message: Message) -> Record:
        """A fresh record for ``message``, its payload encoded once, as on the wire."""
        record = cls(message.id, message.to_json(), message.priority, message.max_deliveries)
        record.expires = message.expires
        return record

    def end_status(self, now: float) -> EndStatus | None:
        """``REVOKED`` or ``EXPIRED`` when this record must not run at ``now``, else ``None``."""
        if self.revoked:
            return "REVOKED"
        if self.expires is not None and self.expires <= now:
            return "EXPIRED"
        return None

    def dead_letter(self, queue: str) -> DeadLetter:
        """This DEAD record as the contract lists it; ``message`` is ``None`` if undecodable."""
        try:
            message: Message | None = Message.from_json(self.payload)
        except MessageDecodeError:
            message = None
        return DeadLetter(
            id=self.id,
            queue=queue,
            payload=self.payload,
            message=message,
            reason=self.reason,
            died_at=self.died_at,
            deliveries=self.deliveries,
            retries=self.retries,
            last_error=self.last_error,
        )

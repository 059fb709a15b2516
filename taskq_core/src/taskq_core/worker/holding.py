"""What a worker holds: deliveries reserved and not settled yet, under one condition variable.

A delivery is held from the moment ``reserve`` hands it out until its settling call (ack,
retry, dead, postpone, end) was answered, or until it is released. Held deliveries count
against the worker's slots (``concurrency + prefetch``) and have their leases renewed by the
heartbeat, so a delivery whose coalesced ack is still on its way keeps its slot and its lease
until the ack is answered.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from typing import TYPE_CHECKING

from taskq_core.plugins import implementations, notify

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from taskq_core.schemas import Delivery
    from taskq_core.worker.outcome import Outcome
    from taskq_core.worker.prefetch import Prefetch

log = logging.getLogger("taskq.worker")


class Holdings:
    """The held deliveries, their lease renewals and outcome counts; every method thread-safe.

    Args:
        lease: Lease length in seconds, from which :meth:`lease_deadline` is computed.
    """

    def __init__(
        self, lease: float = 30.0, async_limit: int = 0, loop_prefetch: Prefetch | None = None
    ) -> None:
        self.lease = lease
        #: Coroutines running at once (``async_concurrency``): that many unslotted deliveries
        #: take no pool slot, and as many more as the loop's prefetch allows; beyond that,
        #: they wait for one like prefetched deliveries.
        self.async_limit = async_limit
        #: How many deliveries wait on the loop for a coroutine slot (told each one's duration).
        self.loop_prefetch = loop_prefetch
        self.stats: collections.Counter[str] = collections.Counter()
        self._held: dict[str, Delivery] = {}
        #: id -> ``time.monotonic()`` when its lease was last granted or renewed (at the latest).
        self._renewed: dict[str, float] = {}
        #: (id, token) of held deliveries whose task ended and whose settling call is on its way:
        #: the heartbeat no longer renews their leases.
        self._unrenewed: set[tuple[str, int]] = set()
        #: Ids of held deliveries running as coroutines: they take no slot of the pool.
        self._unslotted: set[str] = set()
        #: Whether the last reserved batch fed the event loop: then the next reserve may also
        #: take as many as the loop has room for.
        self._feeding_loop = False
        #: Reserves under way (the threads pool's threads take turns at reserving).
        self._reserving = 0
        self._changed = threading.Condition()

    def snapshot(self) -> list[Delivery]:
        """The held deliveries right now."""
        with self._changed:
            return list(self._held.values())

    def hold(self, deliveries: Sequence[Delivery]) -> None:
        """Deliveries a reserve handed out."""
        now = time.monotonic()
        with self._changed:
            for delivery in deliveries:
                self._held[delivery.id] = delivery
                self._renewed[delivery.id] = now

    def drop(self, deliveries: Sequence[Delivery]) -> None:
        """Deliveries given back (released) without a settlement."""
        with self._changed:
            for delivery in deliveries:
                self._held.pop(delivery.id, None)
                self._renewed.pop(delivery.id, None)
                self._unslotted.discard(delivery.id)
            self._changed.notify_all()

    def unslot(self, deliveries: Sequence[Delivery]) -> None:
        """Of a reserved batch, ``deliveries`` run as coroutines: no pool slot, held until settled.

        Told for every batch the worker routes (with none when no delivery was a coroutine's),
        so reserves grow to feed the loop only while coroutines arrive.
        """
        with self._changed:
            self._feeding_loop = bool(deliveries)
            if deliveries:
                self._unslotted.update(delivery.id for delivery in deliveries)
                self._changed.notify_all()

    def stop_renewing(self, delivery: Delivery) -> None:
        """``delivery``'s task ended and its settling call is about to go out.

        From now on a refused renewal of its lease is not a lost lease: the delivery is being
        acked (or retried, buried), or its lease was expired on purpose.
        """
        with self._changed:
            self._unrenewed.add((delivery.id, delivery.token))

    def settled(self, outcomes: Sequence[tuple[Delivery, Outcome]]) -> None:
        """Settlements that were answered (or failed): count them, free their slots, tell plugins.

        Every outcome of the worker passes here (the acker's coalesced acks too), so this is
        where ``taskq_deliveries_settled`` fires.
        """
        stats, held, renewed = self.stats, self._held, self._renewed
        with self._changed:
            unrenewed, unslotted = self._unrenewed, self._unslotted
            for delivery, outcome in outcomes:
                key = delivery.id
                stats[outcome] += 1
                held.pop(key, None)
                renewed.pop(key, None)
                if unrenewed:
                    unrenewed.discard((key, delivery.token))
                if unslotted:
                    unslotted.discard(key)
            self._changed.notify_all()
        if implementations("taskq_deliveries_settled"):
            notify("taskq_deliveries_settled", outcomes=outcomes)

    def renewable(self) -> list[Delivery]:
        """Held deliveries whose leases the heartbeat renews: all but those being settled.

        Their ack/retry/dead is on its way, and one abandoned after its process died has just
        had its lease expired on purpose.
        """
        with self._changed:
            return [d for d in self._held.values() if (d.id, d.token) not in self._unrenewed]

    def renewed(self, renewed: Sequence[Delivery], kept: Sequence[bool], at: float) -> None:
        """Leases of ``renewed`` that the broker ``kept`` were renewed by a call sent at ``at``."""
        with self._changed:
            for delivery, ok in zip(renewed, kept, strict=True):
                if ok and self._held.get(delivery.id) is delivery:
                    self._renewed[delivery.id] = at

    def lease_deadline(self, delivery: Delivery) -> float:
        """``time.monotonic()`` until which ``delivery``'s lease surely runs.

        A delivery not held (one run by ``run_until_idle``) has no known lease: now.
        """
        with self._changed:
            renewed = self._renewed.get(delivery.id)
        return time.monotonic() if renewed is None else renewed + self.lease

    def lost(self, renewed: Sequence[Delivery], kept: Sequence[bool]) -> list[Delivery]:
        """Of ``renewed``, those whose renewal was refused and that really lost their lease.

        A delivery acked (or retried, buried) since the snapshot is not held any more either;
        only one still held and not being settled has really lost its lease.
        """
        with self._changed:
            return [
                delivery
                for delivery, ok in zip(renewed, kept, strict=True)
                if not ok
                and self._held.get(delivery.id) is delivery
                and (delivery.id, delivery.token) not in self._unrenewed
            ]

    def wait_for_room(self, limit: int, stopping: threading.Event) -> int:
        """Wait until fewer than ``limit`` take a pool slot; the room left, or 0 once stopping.

        Held deliveries take a slot, except up to ``async_limit`` of those handed to the event
        loop (:meth:`unslot`) and the loop's prefetch. While batches feed the loop, the room also
        counts the loop's free coroutine slots, so one reserve can fill them.
        """
        with self._changed:
            while self._room(limit) <= 0 and not stopping.is_set():
                self._changed.wait()
            return 0 if stopping.is_set() else self._room(limit)

    def _room(self, limit: int) -> int:
        unslotted = len(self._unslotted)
        on_loop = self.async_limit
        if self.loop_prefetch is not None:
            on_loop += self.loop_prefetch.current()
        room = limit - (len(self._held) - min(unslotted, on_loop))
        if self._feeding_loop and room > 0:
            # At most ``limit`` more per reserve: decoding a huge batch would hold the GIL
            # long enough to delay the loop's timers (and every running coroutine with them).
            room += min(limit, max(0, self.async_limit - unslotted))
        return room

    def begin_reserve(self, stopping: threading.Event) -> bool:
        """Count a reserve as under way; ``False`` (not counted) once stopping."""
        with self._changed:
            if stopping.is_set():
                return False
            self._reserving += 1
            return True

    def end_reserve(self) -> None:
        """A reserve counted by :meth:`begin_reserve` returned."""
        with self._changed:
            self._reserving -= 1
            self._changed.notify_all()

    def reserving(self) -> bool:
        """Whether a reserve is under way (it may still hand out deliveries)."""
        with self._changed:
            return self._reserving > 0

    def wake(self, timeout: float | None = None) -> None:
        """Wake every waiter; with ``timeout``, then wait for a change that long at most."""
        with self._changed:
            self._changed.notify_all()
            if timeout is not None:
                self._changed.wait(timeout)

    def wait_empty(self, deadline: float, stop_now: Callable[[], bool]) -> bool:
        """Wait until nothing is held; ``False`` when ``deadline`` or ``stop_now()`` came first."""
        with self._changed:
            while self._held:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or stop_now():
                    log.warning(
                        "%d task(s) still running at shutdown%s; their leases will return them",
                        len(self._held),
                        " (second signal)" if stop_now() else "",
                    )
                    return False
                self._changed.wait(min(remaining, 0.5))
        return True

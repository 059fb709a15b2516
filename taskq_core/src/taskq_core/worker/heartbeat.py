"""The heartbeat: the worker's liveness in the broker and the renewal of every lease it holds.

Each beat sends the worker's :class:`~taskq_core.schemas.WorkerInfo` (with the count in flight)
and renews, in one batched ``extend_lease``, every held delivery whose settling call is not on
its way yet: running tasks and prefetched ones alike. A renewal the broker refuses for a
delivery still held means its lease was lost; its result will be refused (fencing).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from taskq_core.capabilities import WorkerRegistry
from taskq_core.errors import BrokerUnavailable
from taskq_core.plugins import notify

if TYPE_CHECKING:
    from taskq_core.broker import BaseBroker
    from taskq_core.schemas import WorkerInfo
    from taskq_core.worker.holding import Holdings
    from taskq_core.worker.link import BrokerLink

log = logging.getLogger("taskq.worker")


class Heartbeat:
    """One worker's heartbeat; :meth:`beat` is the heartbeat timer's action.

    Args:
        broker: Where the worker is registered and its leases live.
        holdings: What the worker holds (whose leases are renewed).
        link: Told whether each beat reached the broker.
        info: The worker's registration, sent with every beat.
    """

    def __init__(
        self, broker: BaseBroker, holdings: Holdings, link: BrokerLink, info: WorkerInfo
    ) -> None:
        self._broker = broker
        self._holdings = holdings
        self._link = link
        #: The registration last sent (``in_flight`` as of that beat).
        self.info = info
        #: ``time.monotonic()`` of the last beat that reached the broker, ``None`` before one.
        self.ok_at: float | None = None

    def beat(self) -> None:
        """Send the heartbeat, then renew the held leases and log the ones lost."""
        holdings = self._holdings
        renewed = holdings.renewable()
        self.info = self.info.model_copy(update={"in_flight": len(renewed)})
        try:
            if isinstance(self._broker, WorkerRegistry):
                self._broker.send_heartbeat(self.info)
        except BrokerUnavailable:
            self._link.failed()
            raise
        self._link.succeeded()
        if renewed:
            sent = time.monotonic()
            kept = self._broker.extend_lease(renewed, lease=holdings.lease)
            holdings.renewed(renewed, kept, sent)
            for delivery in holdings.lost(renewed, kept):
                log.warning("lease of %s was lost; its result will be refused", delivery.id)
        self.ok_at = time.monotonic()
        notify("taskq_worker_heartbeat", worker=self.info)

"""The acker: the first ack after a quiet spell goes out at once, later ones share round trips."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from taskq_core.schemas import Delivery
from taskq_core.worker.acker import Acker, Succeeded
from taskq_core.worker.holding import Holdings

from ..support.memory import reserved_deliveries
from ..support.waiting import wait_until


class AckRecorder:
    """The one broker call the acker makes: records each ``ack_many`` batch, acks everything."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.lock = threading.Lock()

    def ack_many(self, deliveries: Sequence[Delivery], **_: Any) -> list[bool]:
        with self.lock:
            self.batches.append([delivery.id for delivery in deliveries])
        return [True] * len(deliveries)


def test_first_ack_goes_out_at_once_and_later_ones_wait_for_the_interval() -> None:
    recorder = AckRecorder()
    holdings = Holdings()
    first, second, third = reserved_deliveries(3)
    holdings.hold([first, second, third])
    acker = Acker(recorder, holdings, interval=3600.0)  # type: ignore[arg-type]
    acker.submit(Succeeded(first, None, 60.0, None, 0.0))
    wait_until(lambda: recorder.batches, what="the first ack")
    acker.submit(Succeeded(second, None, 60.0, None, 0.0))
    acker.submit(Succeeded(third, None, 60.0, None, 0.0))
    assert recorder.batches == [[first.id]]  # the next round trip waits for the interval
    acker.close(10.0)  # a shutdown acks what waits, at once
    assert recorder.batches == [[first.id], [second.id, third.id]]
    assert holdings.stats == {"acked": 3}

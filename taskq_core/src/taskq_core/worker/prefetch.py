"""How many deliveries a worker reserves ahead of a free slot.

Prefetch saves round trips and keeps the pool busy between reserves, and it costs fairness: a
prefetched delivery waits in this worker for a slot while another worker may be idle, and a
high-priority message sent meanwhile queues behind it. The cost grows with the tasks' duration,
the saving shrinks with it. So the default adapts: the worker keeps as many deliveries ahead as
its pool finishes in about ``WINDOW`` seconds (measured over recent tasks), between 0 and
``max(32, 4 x concurrency)``:

==================  ==========================================================
average task time   deliveries reserved ahead (concurrency 8)
==================  ==========================================================
under 25 ms         32 (no-op and I/O-light tasks: one round trip per batch)
100 ms              8
1 s and more        0 (fair mode: a long task never waits behind another)
==================  ==========================================================

Before any task ended it is ``concurrency``. Held deliveries are leased to the worker and
renewed by its heartbeat; a graceful shutdown releases the unstarted ones at once, a crash
returns them after the lease (or ``worker_timeout``). A fixed ``prefetch=N`` turns this off.

The event loop of ``async def`` tasks has one of its own (:func:`loop_prefetch`): deliveries
waiting on the loop for a free coroutine slot, by the same rule over the coroutines' duration,
up to half of ``async_concurrency``. A slot freed by a coroutine that ended then starts the next
at once instead of waiting for the ack and the next reserve (with 1,000 coroutines of 50 ms,
about 10% more tasks per second).
"""

from __future__ import annotations

#: Seconds of the pool's work the adaptive default keeps reserved ahead.
WINDOW = 0.1
#: Weight of the newest task time in the running average.
SMOOTHING = 0.05


def adaptive_cap(concurrency: int) -> int:
    """The most the adaptive default reserves ahead."""
    return max(32, 4 * concurrency)


class Prefetch:
    """The prefetch in force: fixed, or adapted to the average task time.

    Args:
        concurrency: Tasks the pool runs at once.
        fixed: A prefetch chosen by the user; ``None`` adapts.
        cap: The most the adaptive prefetch holds (default :func:`adaptive_cap`).
    """

    def __init__(self, concurrency: int, fixed: int | None, *, cap: int | None = None) -> None:
        self.concurrency = concurrency
        self.adaptive = fixed is None
        if fixed is not None:
            cap = fixed
        self.cap = adaptive_cap(concurrency) if cap is None else cap
        self._average: float | None = None

    def observe(self, seconds: float) -> None:
        """One task took ``seconds`` (wall time) on a pool thread."""
        average = self._average
        self._average = seconds if average is None else average + (seconds - average) * SMOOTHING

    def current(self) -> int:
        """Deliveries to hold beyond the running ones right now."""
        if not self.adaptive:
            return self.cap
        average = self._average
        if average is None:
            return min(self.cap, self.concurrency)
        if average <= 0:
            return self.cap
        return max(0, min(self.cap, int(self.concurrency * WINDOW / average)))


def loop_prefetch(async_concurrency: int, fixed: int | None) -> Prefetch:
    """The prefetch of the event loop: adaptive up to half its slots; none in fair mode.

    Args:
        async_concurrency: Coroutines the loop runs at once.
        fixed: The worker's ``prefetch`` setting: 0 (fair mode) holds nothing ahead on the loop
            either; anything else adapts.
    """
    return Prefetch(async_concurrency, 0 if fixed == 0 else None, cap=async_concurrency // 2)

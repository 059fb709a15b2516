"""The memory backend's asyncio producer: the broker's own transitions, waits on asyncio events.

Sends and reads take the broker's lock for a few microseconds and never wait for anything, so
they run on the loop directly. A result waiter registers a wake-up with the result store, then
awaits an :class:`asyncio.Event`; storing the result (from a worker thread, or from the loop
itself) sets the event through ``loop.call_soon_threadsafe``. No thread is started and none is
blocked, so any number of waiters cost one event each.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import TYPE_CHECKING

from taskq_core.aio import AsyncProducer

if TYPE_CHECKING:
    from collections.abc import Sequence

    from taskq_core.schemas import Message, TaskResult
    from taskq_memory.broker import MemoryBroker
    from taskq_memory.results import ResultRecords


class MemoryAsyncProducer(AsyncProducer):
    """The asyncio producer of one :class:`~taskq_memory.broker.MemoryBroker`."""

    def __init__(self, broker: MemoryBroker, results: ResultRecords, lock: threading.Lock) -> None:
        self._broker = broker
        self._results = results
        self._lock = lock

    async def asend(
        self, message: Message, *, eta: float | None = None, replace_result: bool = False
    ) -> bool:
        """Put ``message`` in READY, or SCHEDULED until ``eta``; ``False`` if the id is known."""
        if eta is None:
            return self._broker.send(message, replace_result=replace_result)
        return self._broker.schedule(message, eta=eta, replace_result=replace_result)

    async def asend_batch(
        self, messages: Sequence[Message], *, eta: float | None = None, replace_result: bool = False
    ) -> list[bool]:
        """Write every message (one hold of the lock when due now)."""
        if eta is None:
            return self._broker.send_batch(messages, replace_result=replace_result)
        return [
            self._broker.schedule(message, eta=eta, replace_result=replace_result)
            for message in messages
        ]

    async def aget_result(
        self, message_id: str, *, timeout: float | None = 0.0
    ) -> TaskResult | None:
        """The result of ``message_id``, awaiting an event set when it is stored."""
        found = self._broker.get_result(message_id, timeout=0.0)
        if found is not None or (timeout is not None and timeout <= 0):
            return found
        loop = asyncio.get_running_loop()
        stored = asyncio.Event()

        def wake() -> None:
            with contextlib.suppress(RuntimeError):  # the waiter's loop has closed
                loop.call_soon_threadsafe(stored.set)

        give_up_at = None if timeout is None else loop.time() + timeout
        with self._lock:
            self._results.wakeups.setdefault(message_id, set()).add(wake)
        try:
            while True:
                stored.clear()
                found = self._broker.get_result(message_id, timeout=0.0)
                if found is not None:
                    return found
                remaining = None if give_up_at is None else give_up_at - loop.time()
                if remaining is not None and remaining <= 0:
                    return None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stored.wait(), remaining)
        finally:
            with self._lock:
                waiting = self._results.wakeups.get(message_id)
                if waiting is not None:
                    waiting.discard(wake)
                    if not waiting:
                        del self._results.wakeups[message_id]

    async def aforget_result(self, message_id: str) -> None:
        """Delete the result of ``message_id``, if any."""
        self._broker.forget_result(message_id)

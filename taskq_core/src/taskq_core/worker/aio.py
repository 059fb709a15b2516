"""``async def`` tasks: one event loop on a daemon thread per worker, shared by its pool threads.

A pool thread hands the coroutine to the loop and waits for it, so the worker's concurrency still
bounds how many tasks run at once, while the coroutines themselves interleave on one loop (an
``asyncio`` client shared by tasks keeps working). A hard time limit cancels the coroutine: unlike
a thread, a coroutine *can* be stopped at its next ``await``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any

from taskq_core.errors import TimeLimitExceeded


class EventLoopThread:
    """Starts its loop on first use; ``close()`` stops it."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="taskq-asyncio", daemon=True).start()
                self._loop = loop
            return self._loop

    def run(self, coroutine: Coroutine[Any, Any, Any], *, time_limit: float | None) -> Any:
        """Run ``coroutine`` on the loop and wait for its result (cancel it at ``time_limit``)."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self._ensure_loop())
        try:
            return future.result(timeout=time_limit)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeLimitExceeded(f"time limit ({time_limit:g}s) exceeded; cancelled") from None

    def close(self) -> None:
        """Stop the loop (pending coroutines are abandoned; their leases bring them back)."""
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)

"""``async def`` tasks: one event loop on a daemon thread per worker, shared by its pool threads.

A worker's pool threads only start coroutines here (:meth:`EventLoopThread.call_soon`, see
``coroutines.py``), so many run at once on the one loop (an ``asyncio`` client shared by tasks
keeps working). :meth:`EventLoopThread.run` runs one coroutine and waits for it: the path of a
runner without ``async_concurrency`` (``run_until_idle``), where a hard time limit cancels the
coroutine: unlike a thread, a coroutine *can* be stopped at its next ``await``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from taskq_core.errors import TaskTerminated, TimeLimitExceeded

if TYPE_CHECKING:
    from taskq_core.worker.revocation import Stoppers

T = TypeVar("T")

#: Seconds coroutines still pending at ``close()`` get to handle their cancellation.
CANCEL_GRACE = 1.0


class EventLoopThread:
    """Starts its loop on first use; ``close()`` stops it."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(
                    target=_serve, args=(loop,), name="taskq-asyncio", daemon=True
                ).start()
                self._loop = loop
            return self._loop

    def run(
        self,
        coroutine: Coroutine[Any, Any, Any],
        *,
        time_limit: float | None,
        stoppers: Stoppers | None = None,
        id: str = "",
    ) -> Any:
        """Run ``coroutine`` on the loop and wait for its result (cancel it at ``time_limit``).

        With ``stoppers``, a termination request for ``id`` cancels it too, and
        ``TaskTerminated`` is raised.
        """
        finished = threading.Event()

        async def watched() -> Any:
            try:
                return await coroutine
            finally:
                finished.set()

        future = asyncio.run_coroutine_threadsafe(watched(), self._ensure_loop())
        try:
            if stoppers is not None:
                stoppers.enter(id, future.cancel)
            return future.result(timeout=time_limit)
        except TaskTerminated:  # asked before it started: it never runs
            future.cancel()
            raise
        except concurrent.futures.CancelledError:
            finished.wait(CANCEL_GRACE)
            raise TaskTerminated(f"task {id} was revoked; cancelled") from None
        except concurrent.futures.TimeoutError:
            future.cancel()
            # Settle only after the coroutine ran its cancellation (``finally`` blocks), so its
            # retry cannot start while it is still winding down; bounded for ones that refuse.
            finished.wait(CANCEL_GRACE)
            raise TimeLimitExceeded(f"time limit ({time_limit:g}s) exceeded; cancelled") from None
        finally:
            if stoppers is not None:
                stoppers.leave(id)

    def call(self, callback: Callable[[], T], timeout: float) -> T | None:
        """``callback()`` on the loop's thread, waited for; ``None`` when no loop runs.

        Raises:
            TimeoutError: the loop did not run it within ``timeout`` seconds (it was blocked).
        """
        with self._lock:
            loop = self._loop
        if loop is None:
            return None

        async def called() -> T:
            return callback()

        future = asyncio.run_coroutine_threadsafe(called(), loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def call_soon(self, callback: Callable[..., object], *args: Any) -> None:
        """Call ``callback(*args)`` on the loop's thread, soon; returns at once."""
        self._ensure_loop().call_soon_threadsafe(callback, *args)

    def close(self) -> None:
        """Stop and close the loop; pending coroutines are cancelled (leases bring them back)."""
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    """Run ``loop`` until ``close()`` stops it, then cancel what is left and close it.

    A loop that is stopped but never closed leaks its selector and self-pipe, and warns
    ``unclosed event loop`` (a ``ResourceWarning``) when collected.
    """
    try:
        loop.run_forever()
    finally:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.wait(pending, timeout=CANCEL_GRACE))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()

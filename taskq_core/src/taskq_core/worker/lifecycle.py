"""The worker's lifecycle: one :class:`Phase` at a time, moving only forward.

=============  ==============================================================================
``NEW``        built, not started
``STARTING``   waiting for the broker (``worker/startup.py``)
``RUNNING``    reserving and running tasks
``DRAINING``   a stop came: no more reserves, prefetched deliveries released, running tasks
               finishing within the grace period while heartbeats keep their leases
``CLOSING``    timers, pool, acker and invoker stopping (the acker flushes its last acks)
``STOPPED``    nothing of the worker runs any more
=============  ==============================================================================

A stop during ``NEW`` or ``STARTING`` goes straight to ``STOPPED``: nothing was launched. The
threads of the worker wait for the phase that ends their work with :meth:`Lifecycle.reached`,
which gives a ``threading.Event`` set once the phase is reached or passed.
"""

from __future__ import annotations

import enum
import threading

__all__ = ["Lifecycle", "Phase"]


class Phase(enum.IntEnum):
    """A phase of a worker's life, in the order they come."""

    NEW = 0
    STARTING = 1
    RUNNING = 2
    DRAINING = 3
    CLOSING = 4
    STOPPED = 5


class Lifecycle:
    """The phase of one worker; thread-safe, and only ever moving forward.

    Also holds the count of stop signals received, which the signal handler writes without a
    lock (a handler must not take one: see ``Worker._on_signal``).
    """

    def __init__(self) -> None:
        self._phase = Phase.NEW
        #: Held while the worker launches or begins to stop, so the two never interleave.
        self.lock = threading.Lock()
        self._reached = {phase: threading.Event() for phase in Phase}
        self._reached[Phase.NEW].set()
        #: Stop signals received (SIGTERM/SIGINT); written only by the signal handler.
        self.signals = 0
        #: Whether every running task finished within the grace period; set on ``STOPPED``.
        self.finished = True

    @property
    def phase(self) -> Phase:
        """The current phase."""
        return self._phase

    def advance(self, phase: Phase) -> None:
        """Move to ``phase`` (and past every phase before it).

        Raises:
            RuntimeError: ``phase`` is not after the current one.
        """
        if phase <= self._phase:
            raise RuntimeError(f"worker cannot go from {self._phase.name} to {phase.name}")
        self._phase = phase
        for each in Phase:
            if each <= phase:
                self._reached[each].set()

    def reached(self, phase: Phase) -> threading.Event:
        """An event set once the worker is in ``phase`` or a later one."""
        return self._reached[phase]

    def stop_now(self) -> bool:
        """Whether a second stop signal asked to skip the rest of the grace period."""
        return self.signals > 1

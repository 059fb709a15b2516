"""``taskq worker --processes N``: N whole worker processes under one supervisor.

One worker process runs its task bodies on one core (the threads pool shares the GIL) and the
``processes`` pool still funnels every reserve, ack and heartbeat through its one parent. The
supervisor (Dramatiq's ``--processes``, Gunicorn's arbiter) starts N independent worker
processes instead, each the same ``taskq worker`` command with its own connection, slots and
leases, so a CPU-light workload uses N cores. The supervisor itself runs no task and talks to
no broker; it only keeps the N processes running:

* **A dead process is restarted**, after a delay that doubles with each quick death in a row
  (:class:`Backoff`), so a process that crashes at start does not spin a core. Its tasks are
  not lost: their leases bring them back to the other processes (or to its replacement).
* **The first SIGTERM or SIGINT stops all of them gracefully**: the supervisor forwards one
  SIGTERM to each, stops restarting, and exits once every process has finished its running
  tasks (each within its ``--shutdown-grace``). **A second signal stops them hard**: it is
  forwarded too, and a worker's second signal skips the rest of its grace (its unfinished tasks
  come back through their leases).
* **A process that gave up waiting for the broker stops them all**: it exits with
  :data:`~taskq_core.worker.startup.BROKER_WAIT_EXPIRED_STATUS` once ``--connect-timeout``
  passed without a broker, and the supervisor stops the others gracefully and exits with that
  status, so the timeout bounds the whole command (restarting would wait forever).
* **So does a process whose configuration cannot work** (refused credentials, a capability
  the backend lacks): it exits with
  :data:`~taskq_core.worker.startup.CONFIGURATION_ERROR_STATUS`, and every restart would fail
  the same way (Gunicorn halts on its ``APP_LOAD_ERROR`` too).
* **No process outlives the supervisor**: they are started through a
  :class:`~taskq_core.worker.lifeline.Lifeline` (parent-death signal and lifeline pipe), so a
  SIGKILLed supervisor takes them down rather than leaving orphans nobody stops.

Each process is its own process group, so a terminal's Ctrl-C reaches the supervisor alone and
each worker gets one stop, not two. A service manager that signals every process of the service
(systemd's default ``KillMode=control-group``) would send each worker a second signal: use
``KillMode=mixed`` there.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

from taskq_core.worker.banner import BANNER_LOGGER
from taskq_core.worker.lifeline import Lifeline
from taskq_core.worker.startup import BROKER_WAIT_EXPIRED_STATUS, CONFIGURATION_ERROR_STATUS

log = logging.getLogger("taskq.worker.supervisor")
banner = logging.getLogger(BANNER_LOGGER)

#: Signals that stop the supervisor and its processes.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
#: Exit statuses of a worker process that stop them all instead of a restart, and why.
GIVE_UP = {
    BROKER_WAIT_EXPIRED_STATUS: "gave up waiting for the broker",
    CONFIGURATION_ERROR_STATUS: "cannot start with this configuration",
}
#: Longest wait between two looks at the restart schedule, in seconds (signals wake it sooner).
LOOP_WAKE_SECONDS = 1.0


@dataclass(frozen=True)
class Backoff:
    """Delay before restarting a worker process, by how many quick deaths came in a row.

    A process that ran at least ``steady_seconds`` counts as healthy: its death restarts it
    after ``first_seconds`` again.
    """

    first_seconds: float = 0.5
    longest_seconds: float = 30.0
    steady_seconds: float = 30.0

    def delay(self, quick_deaths: int) -> float:
        """Seconds to wait after the ``quick_deaths``-th quick death in a row (1, 2, ...)."""
        exponent = max(quick_deaths - 1, 0)
        return min(self.first_seconds * 2.0 ** min(exponent, 32), self.longest_seconds)


class Slot:
    """One of the N places a worker process runs in, across its restarts."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.quick_deaths = 0
        self.restart_at: float | None = None


class Supervisor:
    """Runs ``processes`` worker processes until a stop signal (see the module docstring).

    Args:
        command: the argument list of the worker process in slot ``index`` (0, 1, ...), without
            the lifeline arguments :class:`Lifeline` appends.
        processes: how many worker processes run at once.
        backoff: restart delays.
    """

    def __init__(
        self,
        command: Callable[[int], list[str]],
        processes: int,
        backoff: Backoff | None = None,
    ) -> None:
        self._command = command
        self._slots = [Slot(index) for index in range(processes)]
        self._backoff = backoff or Backoff()
        # SimpleQueue.put is reentrant: the signal handler may put while the loop is in get().
        self._events: queue.SimpleQueue[tuple[str, object]] = queue.SimpleQueue()
        self._signals = 0
        #: The status of the process whose end stopped them all (0: none did).
        self._gave_up = 0
        self._lifeline = Lifeline()

    def run(self) -> int:
        """Supervise until stopped; the exit status: 0 when every process stopped cleanly."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in STOP_SIGNALS}
        try:
            banner.info("taskq supervisor: %d worker processes", len(self._slots))
            for slot in self._slots:
                self._start(slot)
            return self._loop()
        finally:
            self._lifeline.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    # -- the loop --------------------------------------------------------------------------------

    def _loop(self) -> int:
        clean = True
        while True:
            try:
                kind, value = self._events.get(timeout=self._wake_in())
            except queue.Empty:
                kind, value = "tick", None
            if kind == "signal":
                self._forward_stop()
            elif kind == "exit":
                assert isinstance(value, tuple)
                slot, process = value
                if slot.process is process:
                    clean = self._exited(slot, process) and clean
            if self._signals:
                if not any(slot.process is not None for slot in self._slots):
                    if self._gave_up:
                        return self._gave_up
                    return 0 if clean else 1
            else:
                self._restart_due()

    def _wake_in(self) -> float:
        due = [slot.restart_at for slot in self._slots if slot.restart_at is not None]
        if not due or self._signals:
            return LOOP_WAKE_SECONDS
        return min(max(min(due) - time.monotonic(), 0.0), LOOP_WAKE_SECONDS)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._events.put(("signal", signum))

    def _forward_stop(self, reason: str = "stop signal") -> None:
        """Forward one SIGTERM to every running process: the first graceful, the next hard."""
        self._signals += 1
        if self._signals == 1:
            log.warning("%s: stopping the worker processes gracefully (again to stop now)", reason)
        else:
            log.warning("second stop signal: stopping the worker processes now")
        for slot in self._slots:
            slot.restart_at = None
            if slot.process is not None and slot.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    slot.process.send_signal(signal.SIGTERM)

    def _exited(self, slot: Slot, process: subprocess.Popen[bytes]) -> bool:
        """Record the end of ``slot``'s process; schedule its restart unless stopping.

        Returns:
            False if it ended with a non-zero status during a stop (the supervisor's exit
            status says so); True otherwise.
        """
        status = process.returncode
        slot.process = None
        if self._signals:
            if status != 0:
                log.warning("%s stopped with %s", _describe(slot, process), _status(status))
            return status == 0
        if status in GIVE_UP:
            self._gave_up = status
            self._forward_stop(f"{_describe(slot, process)} {GIVE_UP[status]}")
            return True
        lived = time.monotonic() - slot.started_at
        slot.quick_deaths = 1 if lived >= self._backoff.steady_seconds else slot.quick_deaths + 1
        delay = self._backoff.delay(slot.quick_deaths)
        slot.restart_at = time.monotonic() + delay
        log.warning(
            "%s exited with %s after %.1fs; restarting it in %.1fs",
            _describe(slot, process),
            _status(status),
            lived,
            delay,
        )
        return True

    def _restart_due(self) -> None:
        now = time.monotonic()
        for slot in self._slots:
            if slot.restart_at is not None and slot.restart_at <= now:
                slot.restart_at = None
                self._start(slot)

    # -- processes -------------------------------------------------------------------------------

    def _start(self, slot: Slot) -> None:
        process = self._lifeline.start(self._command(slot.index), pass_fds=())
        slot.process = process
        slot.started_at = time.monotonic()
        threading.Thread(
            target=self._reap,
            args=(slot, process),
            name=f"taskq-supervisor-reap-{slot.index}",
            daemon=True,
        ).start()

    def _reap(self, slot: Slot, process: subprocess.Popen[bytes]) -> None:
        process.wait()
        self._events.put(("exit", (slot, process)))


def _describe(slot: Slot, process: subprocess.Popen[bytes]) -> str:
    return f"worker process {slot.index} (pid {process.pid})"


def _status(returncode: int) -> str:
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return signal.Signals(-returncode).name
        return f"signal {-returncode}"
    return f"status {returncode}"

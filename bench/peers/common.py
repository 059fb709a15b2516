"""Shared by every library's bench module: the no-op task body and the report channel.

Imported in both virtualenvs (the project's and ``bench/.peers-venv``), so it uses only the
standard library. Configuration comes from environment variables set by ``bench/run.py``:

* ``BENCH_REDIS_URL``: the one redis-server of the run.
* ``BENCH_REPORT_ADDR``: ``host:port`` of a UDP socket the harness (or the latency producer)
  listens on. Reports go over loopback UDP, not Redis, so they never show up in the Redis
  command counts.
* ``BENCH_DRAIN_N``: when set, the worker counts no-op executions and reports once, after the
  N-th one ended: first start, last end and the worker's CPU time between them.
* ``BENCH_RESULTS``: ``1`` when the worker/producer should enable the library's result backend.
* ``BENCH_PROGRESS_EVERY``: when set to K (the multi-process run), each process reports its own
  count of executions at its first one and every K-th one after: pid, count, time, CPU time
  (the body is then a no-op).
* ``BENCH_BODY``: what each drained task does (:data:`BODIES`); default ``noop``.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import threading
import time

URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
RESULTS = os.environ.get("BENCH_RESULTS") == "1"
DRAIN_N = int(os.environ.get("BENCH_DRAIN_N") or 0)
PROGRESS_EVERY = int(os.environ.get("BENCH_PROGRESS_EVERY") or 0)
_addr = os.environ.get("BENCH_REPORT_ADDR", "")
REPORT_ADDR = (_addr.rpartition(":")[0], int(_addr.rpartition(":")[2])) if _addr else None

#: Task bodies (``bench/run.py --body``) and what each does before it counts as ended:
#: ``redis`` one blocking round trip (a GET) on a per-thread connection, ``sleep5`` a 5 ms
#: ``time.sleep`` (an I/O-bound task), ``asleep50`` a 50 ms ``asyncio.sleep`` (``async def``
#: tasks; libraries without them run nothing for it).
BODIES = ("noop", "redis", "sleep5", "asleep50")
BODY = os.environ.get("BENCH_BODY", "noop")
#: Seconds one task's body takes at best (``None``: as fast as it can), for the ideal rate.
BODY_SECONDS = {"sleep5": 0.005, "asleep50": 0.05}.get(BODY)
#: Whether the body is a coroutine's (the library's ``async def`` task runs it).
ASYNC_BODY = BODY == "asleep50"

_local = threading.local()
_started = itertools.count()
_ended = itertools.count()
_first: dict[str, int] = {}
_socket_lock = threading.Lock()
_socket: socket.socket | None = None


def report(payload: dict) -> None:
    """Send one JSON datagram to the harness."""
    global _socket
    if REPORT_ADDR is None:
        return
    with _socket_lock:
        if _socket is None:
            _socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        _socket.sendto(json.dumps(payload).encode(), REPORT_ADDR)


def _redis_round_trip() -> None:
    """One GET on this thread's own connection (redis-py is in both virtualenvs)."""
    client = getattr(_local, "client", None)
    if client is None:
        import redis

        client = _local.client = redis.Redis.from_url(URL)
    client.get("bench:body")


def _begin(sent_ns: int) -> bool:
    """Report a latency probe, note the drain's first start; whether to go on with the body."""
    now = time.monotonic_ns()
    if sent_ns:
        report({"latency_ns": now - sent_ns})
        return False
    if PROGRESS_EVERY:
        progress(now)
        return False
    if not DRAIN_N:
        return False
    if next(_started) == 0:
        _first["wall"] = now
        _first["cpu"] = time.process_time_ns()
    return True


def task_body(sent_ns: int) -> None:
    """The body every library runs (``BENCH_BODY``; a no-op by default).

    ``sent_ns`` is ``time.monotonic_ns()`` taken by the producer right before its enqueue call
    (a latency probe) or 0 (a drain task). CLOCK_MONOTONIC is system-wide on Linux, so the
    difference between processes is meaningful.
    """
    if not _begin(sent_ns):
        return
    if BODY == "redis":
        _redis_round_trip()
    elif BODY == "sleep5":
        time.sleep(0.005)
    _end()


async def async_task_body(sent_ns: int) -> None:
    """:func:`task_body` of an ``async def`` task (``asleep50`` awaits, the others as above)."""
    if not _begin(sent_ns):
        return
    if BODY == "asleep50":
        import asyncio

        await asyncio.sleep(0.05)
    elif BODY == "redis":
        _redis_round_trip()
    elif BODY == "sleep5":
        time.sleep(0.005)
    _end()


def _end() -> None:
    """Count one drained task's end; the N-th reports the drain."""
    if next(_ended) == DRAIN_N - 1:
        end = time.monotonic_ns()
        report(
            {
                "drain": DRAIN_N,
                "first_start_ns": _first.get("wall", end),
                "last_end_ns": end,
                "cpu_ns": time.process_time_ns() - _first.get("cpu", 0),
                "pid": os.getpid(),
                "threads": threading.active_count(),
            }
        )


def progress(now: int) -> None:
    """Count one execution in this process; report at the first and every PROGRESS_EVERY-th.

    The multi-process run sums the reports of all processes into one timeline (``bench/
    multiprocess.py``); a process of a pool counts only its own executions.
    """
    done = next(_ended)
    if done % PROGRESS_EVERY == 0:
        report({"pid": os.getpid(), "done": done, "t_ns": now, "cpu_ns": time.process_time_ns()})


class Receiver:
    """A UDP socket on loopback that collects reports."""

    def __init__(self, port: int = 0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind(("127.0.0.1", port))
        self.addr = f"127.0.0.1:{self.sock.getsockname()[1]}"

    def get(self, timeout: float) -> dict | None:
        """The next report, or None after ``timeout`` seconds."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return None
        return json.loads(data)

    def drain_pending(self) -> None:
        """Drop reports left over from a previous phase."""
        self.sock.setblocking(False)
        try:
            while True:
                self.sock.recv(65536)
        except BlockingIOError:
            pass
        finally:
            self.sock.setblocking(True)

    def close(self) -> None:
        self.sock.close()

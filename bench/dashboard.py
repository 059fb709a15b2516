"""Server time of the dashboard's pages on a big broker: 1,000,000 READY and 10,000 DEAD.

Not a test: it prints numbers and asserts none. It starts its own redis-server (from PATH, no
persistence, free loopback port), fills one queue with ``--dead`` DEAD messages and ``--queued``
READY ones, opens ``--chords`` chords of two members and one of ``--big-chord`` members (their
members are READY too), serves the dashboard with uvicorn in this process and requests each page
``--repeats`` times over loopback HTTP. Server time is measured around the ASGI call (from the
request reaching the app to the last byte of the response), so HTTP parsing on the client side
is not in it; the target is under 300 ms per page.

    .venv/bin/python bench/dashboard.py                   # 1,000,000 + 10,000, 20 requests
    .venv/bin/python bench/dashboard.py --queued 100000 --repeats 5

Counts are O(1) per queue (LLEN/ZCARD), the DEAD page reads one page of ``DEAD_PAGE_SIZE`` with
ZREVRANGE, and task lookup is a MULTI of O(1) reads per queue, so the size of the queue should
not show in any number. The Workflows page reads a bounded page of each queue's chord index
(``CHORDS_PER_QUEUE``), and a chord's view one page of members, so neither should the number
of open chords nor the size of a chord.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from typing import TYPE_CHECKING

import redis
import uvicorn

from taskq_core import Taskq, chord
from taskq_core.dashboard import create_app
from taskq_core.schemas import Message, WorkerInfo
from taskq_redis import RedisBroker

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

QUEUE = "big"
BATCH = 10_000


class ServerTimer:
    """ASGI wrapper that records, per path, the seconds from request to the response's end."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.times: dict[str, list[float]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        await self.app(scope, receive, send)
        path = scope["path"] + (
            "?" + scope["query_string"].decode() if scope["query_string"] else ""
        )
        self.times.setdefault(path, []).append(time.perf_counter() - started)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis(workdir: str) -> tuple[subprocess.Popen[bytes], str]:
    exe = shutil.which("redis-server")
    if exe is None:
        sys.exit("redis-server not found on PATH (apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen(
        [
            exe,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(200):
        try:
            client.ping()
            return proc, url
        except redis.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("redis-server did not start")


def fill(broker: RedisBroker, queued: int, dead: int) -> str:
    """``dead`` messages buried (with a traceback-sized reason), then ``queued`` READY ones."""
    reason = "ValueError: card declined\n" + "Traceback (most recent call last):\n" * 20
    first_dead = ""
    for start in range(0, dead, 1000):
        size = min(1000, dead - start)
        broker.send_batch(
            [Message(task="bench.charge", queue=QUEUE, args=(i,)) for i in range(size)]
        )
        held = broker.reserve([QUEUE], worker_id="bench", lease=600.0, limit=size)
        first_dead = first_dead or held[0].id
        for delivery in held:
            broker.dead(delivery, reason=reason)
    for start in range(0, queued, BATCH):
        size = min(BATCH, queued - start)
        broker.send_batch(
            [Message(task="bench.noop", queue=QUEUE, args=(start + i,)) for i in range(size)]
        )
        print(f"\r  queued {start + size:,}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    broker.send_heartbeat(WorkerInfo(worker_id="bench-worker", hostname="bench", queues=(QUEUE,)))
    return first_dead


def open_chords(broker: RedisBroker, chords: int, big: int) -> str:
    """``chords`` open chords of two members, then one of ``big`` members; its id."""
    app = Taskq(broker, default_queue=QUEUE)

    @app.task(name="bench.part")
    def part(i: int) -> int:
        return i

    @app.task(name="bench.total")
    def total(parts: list[int]) -> int:
        return sum(parts)

    for i in range(chords):
        chord([part.s(i), part.s(i + 1)], total.s()).delay()
    return chord([part.s(i) for i in range(big)], total.s()).delay().id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--queued", type=int, default=1_000_000)
    parser.add_argument("--dead", type=int, default=10_000)
    parser.add_argument("--chords", type=int, default=10_000)
    parser.add_argument("--big-chord", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="taskq-dash-bench-")
    proc, url = start_redis(workdir)
    try:
        broker = RedisBroker(url)
        broker.connect()
        began = time.perf_counter()
        dead_id = fill(broker, args.queued, args.dead)
        chord_id = open_chords(broker, args.chords, args.big_chord)
        counts = broker.counts(QUEUE)
        print(f"  filled in {time.perf_counter() - began:.1f} s: {counts}", file=sys.stderr)
        timer = ServerTimer(create_app(broker))
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(timer, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.01)
        last_page = -(-args.dead // 50)
        pages = [
            "/",
            "/fragments/queues",
            "/workers",
            f"/queues/{QUEUE}/dead",
            f"/queues/{QUEUE}/dead?page={last_page}",
            f"/tasks?id={dead_id}",
            "/workflows",
            "/fragments/workflows",
            f"/queues/{QUEUE}/chords/{chord_id}",
        ]
        for path in pages:
            for _ in range(args.repeats):
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=60) as resp:
                    resp.read()
        server.should_exit = True
        thread.join(30)
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"\n{counts.ready:,} READY and {counts.dead:,} DEAD in one queue, "
        f"{args.chords + 1:,} open chords (one of {args.big_chord:,} members); "
        f"{args.repeats} requests per page; server time in ms\n"
    )
    print("| page | median | p95 | max |")
    print("|---|---|---|---|")
    for path in pages:
        samples = sorted(t * 1000 for t in timer.times[path])
        p95 = samples[min(len(samples) - 1, int(0.95 * len(samples)))]
        shown = path.replace(dead_id, "<dead id>").replace(chord_id, "<chord id>")
        print(f"| `{shown}` | {statistics.median(samples):.1f} | {p95:.1f} | {samples[-1]:.1f} |")


if __name__ == "__main__":
    main()

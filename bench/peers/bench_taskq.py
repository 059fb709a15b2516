"""taskq on taskq-redis, run with the project's virtualenv (the one ``bench/run.py`` runs in).

Worker configs are names: ``default`` runs ``taskq worker`` without any tuning flag; otherwise
comma-separated ``key=value`` pairs out of ``pool`` (threads|solo), ``c`` (concurrency),
``ac`` (async concurrency), ``prefetch`` and ``processes`` (worker processes under one
supervisor), e.g. ``pool=threads,c=4,prefetch=32`` or ``processes=4``. With an ``async def`` body
(``BENCH_BODY=asleep50``) the drained task is an ``async def`` task.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys

import common

from taskq_core import Taskq
from taskq_core.result import AsyncResult

LIBRARY = "taskq-core"
BULK_API = "task.delay_many() (send_many script per 1000 messages, streamed; 1 round trip)"
# The round trip runs when AsyncResult has ``get`` (taskq versions without results: n/a).
ROUNDTRIP = "delay().get() (result in the ack script, waiter blocks on BLMOVE rotation)"
if not hasattr(AsyncResult, "get"):
    ROUNDTRIP = None
CONFIGS = {"default": "taskq worker defaults (threads, -c 8, adaptive prefetch <= 32)"}
DEFAULT_CONFIG = "default"

app = Taskq(common.URL)


# No result for the no-op, as for every peer's throughput steps (taskq stores results by
# default; the echo task of the round trip keeps that default).
if common.ASYNC_BODY:

    @app.task(name="bench.noop", ignore_result=True)
    async def noop(sent_ns: int) -> None:
        await common.async_task_body(sent_ns)

else:

    @app.task(name="bench.noop", ignore_result=True)
    def noop(sent_ns: int) -> None:
        common.task_body(sent_ns)


@app.task(name="bench.echo")
def echo(x: int) -> int:
    return x


class Producer:
    def __init__(self) -> None:
        app.broker  # noqa: B018 - connects (and checks the URL) before any timing starts
        self.loop = asyncio.new_event_loop()
        # The asyncio client connects before any timing starts too (an echo's send warms it).
        self.loop.run_until_complete(echo.adelay(0))

    def send(self, sent_ns: int) -> None:
        noop.delay(sent_ns)

    def send_each(self, stamps: list[int]) -> None:
        for sent_ns in stamps:
            noop.delay(sent_ns)

    def asend_each(self, stamps: list[int]) -> None:
        """``await noop.adelay()`` per stamp, one after the other, on one event loop."""

        async def go() -> None:
            for sent_ns in stamps:
                await noop.adelay(sent_ns)

        self.loop.run_until_complete(go())

    def send_bulk(self, stamps: list[int]) -> None:
        noop.delay_many([(sent_ns,) for sent_ns in stamps])

    def roundtrip(self, x: int) -> int:
        return echo.delay(x).get(timeout=30)

    def close(self) -> None:
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())  # closes the asyncio client
        self.loop.close()
        app.close()


def worker_flags(config: str) -> list[str]:
    """CLI flags for a config name (see the module docstring)."""
    if config == "default":
        return []
    names = {
        "pool": "--pool",
        "c": "--concurrency",
        "ac": "--async-concurrency",
        "prefetch": "--prefetch",
        "processes": "--processes",
    }
    flags = []
    for item in config.split(","):
        key, _, value = item.partition("=")
        flags += [names[key.strip()], value.strip()]
    return flags


def run_worker(config: str) -> None:
    exe = shutil.which("taskq", path=os.path.dirname(sys.executable))
    assert exe is not None
    argv = [exe, "worker", "bench_taskq:app", "--broker", common.URL, "--loglevel", "WARNING"]
    os.execv(exe, [*argv, *worker_flags(config)])

"""taskiq 0.13 with taskiq-redis' RedisStreamBroker (acknowledged): 1 worker process, async."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys

import common
from taskiq_redis import RedisAsyncResultBackend, RedisStreamBroker

LIBRARY = "taskiq"
BULK_API = None
ROUNDTRIP = "await (await task.kiq()).wait_result(check_interval=0.001) (redis result backend)"
CONFIGS = {"async100": "taskiq worker --workers 1 --max-async-tasks 100 (RedisStreamBroker)"}
DEFAULT_CONFIG = "async100"

broker = RedisStreamBroker(url=common.URL)
if common.RESULTS:
    broker = broker.with_result_backend(RedisAsyncResultBackend(redis_url=common.URL))


@broker.task(task_name="bench.noop")
async def noop(sent_ns: int) -> None:
    await common.async_task_body(sent_ns)


@broker.task(task_name="bench.echo")
async def echo(x: int) -> int:
    return x


class Producer:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(broker.startup())

    def send(self, sent_ns: int) -> None:
        self.loop.run_until_complete(noop.kiq(sent_ns))

    def send_each(self, stamps: list[int]) -> None:
        async def go() -> None:
            for sent_ns in stamps:
                await noop.kiq(sent_ns)

        self.loop.run_until_complete(go())

    def asend_each(self, stamps: list[int]) -> None:
        """taskiq has only the asyncio API: the same as ``send_each``."""
        self.send_each(stamps)

    def send_bulk(self, stamps: list[int]) -> None:
        raise NotImplementedError

    def roundtrip(self, x: int) -> int:
        async def go() -> int:
            task = await echo.kiq(x)
            result = await task.wait_result(check_interval=0.001, timeout=30)
            return result.return_value

        return self.loop.run_until_complete(go())

    def close(self) -> None:
        self.loop.run_until_complete(broker.shutdown())
        self.loop.close()


def run_worker(config: str) -> None:
    # "processes=N" is the multi-process run: taskiq worker --workers N
    workers = config.partition("=")[2] if config.startswith("processes=") else "1"
    assert config == "async100" or config.startswith("processes=")
    exe = shutil.which("taskiq", path=os.path.dirname(sys.executable))
    assert exe is not None
    argv = [exe, "worker", "bench_taskiq:broker", "--workers", workers, "--max-async-tasks", "100"]
    os.execv(exe, [*argv, "--log-level", "WARNING"])

"""Dramatiq 2 on its Redis broker: one worker process with 8 threads (default middleware)."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading

import common
import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.results import Results
from dramatiq.results.backends import RedisBackend

LIBRARY = "dramatiq"
BULK_API = "group(...).run() (one enqueue per task)"
ROUNDTRIP = "send().get_result(block=True) with the Results middleware (redis backend)"
CONFIGS = {"threads8": "1 process x 8 threads (dramatiq.Worker, worker_threads=8)"}
DEFAULT_CONFIG = "threads8"

broker = RedisBroker(url=common.URL)
if common.RESULTS:
    broker.add_middleware(Results(backend=RedisBackend(url=common.URL)))
dramatiq.set_broker(broker)


@dramatiq.actor(actor_name="bench_noop")
def noop(sent_ns: int) -> None:
    common.task_body(sent_ns)


if common.RESULTS:

    @dramatiq.actor(actor_name="bench_echo", store_results=True)
    def echo(x: int) -> int:
        return x


class Producer:
    def __init__(self) -> None:
        broker.client.ping()

    def send(self, sent_ns: int) -> None:
        noop.send(sent_ns)

    def send_each(self, stamps: list[int]) -> None:
        for sent_ns in stamps:
            noop.send(sent_ns)

    def send_bulk(self, stamps: list[int]) -> None:
        dramatiq.group(noop.message(sent_ns) for sent_ns in stamps).run()

    def roundtrip(self, x: int) -> int:
        return echo.send(x).get_result(block=True, timeout=30_000)

    def close(self) -> None:
        broker.close()


def run_worker(config: str) -> None:
    if config.startswith("processes="):  # the multi-process run: dramatiq --processes N
        exe = shutil.which("dramatiq", path=os.path.dirname(sys.executable))
        assert exe is not None
        processes = config.partition("=")[2]
        os.execv(exe, [exe, "bench_dramatiq", "--processes", processes, "--threads", "8"])
    assert config == "threads8"
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    worker = dramatiq.Worker(broker, worker_threads=8)
    worker.start()
    stop.wait()
    worker.stop()

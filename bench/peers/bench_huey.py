"""Huey 3 (RedisHuey, blocking BRPOP reads): one consumer process with 8 worker threads."""

from __future__ import annotations

import logging

import common
from huey import RedisHuey

LIBRARY = "huey"
BULK_API = "task.map() (one enqueue per task; huey has no pipelined bulk)"
ROUNDTRIP = "task().get(blocking=True) with notify_result=True (BLPOP)"
CONFIGS = {"threads8": "consumer -w 8 -k thread"}
DEFAULT_CONFIG = "threads8"

huey = RedisHuey("bench", url=common.URL, notify_result=common.RESULTS)


@huey.task(name="bench.noop")
def noop(sent_ns: int) -> None:
    common.task_body(sent_ns)


@huey.task(name="bench.echo")
def echo(x: int) -> int:
    return x


class Producer:
    def __init__(self) -> None:
        huey.storage.conn.ping()

    def send(self, sent_ns: int) -> None:
        noop(sent_ns)

    def send_each(self, stamps: list[int]) -> None:
        for sent_ns in stamps:
            noop(sent_ns)

    def send_bulk(self, stamps: list[int]) -> None:
        noop.map(stamps)

    def roundtrip(self, x: int) -> int:
        return echo(x).get(blocking=True, timeout=30)

    def close(self) -> None:
        pass


def run_worker(config: str) -> None:
    logging.basicConfig(level=logging.WARNING)
    if config.startswith("processes="):  # the multi-process run: consumer -k process -w N
        processes = int(config.partition("=")[2])
        huey.create_consumer(workers=processes, worker_type="process").run()
        return
    assert config == "threads8"
    huey.create_consumer(workers=8, worker_type="thread").run()

"""RQ 3 with SimpleWorker (jobs run in the worker process, no fork per job)."""

from __future__ import annotations

import logging

import common
from redis import Redis
from rq import Queue, SimpleWorker

LIBRARY = "rq"
BULK_API = "Queue.enqueue_many (one pipeline)"
ROUNDTRIP = "enqueue() then job.latest_result(timeout=...) (blocking read of the results stream)"
CONFIGS = {"simple": "SimpleWorker, one job at a time"}
DEFAULT_CONFIG = "simple"

connection = Redis.from_url(common.URL)
queue = Queue("default", connection=connection)


def noop(sent_ns: int) -> None:
    common.task_body(sent_ns)


def echo(x: int) -> int:
    return x


class Producer:
    def __init__(self) -> None:
        connection.ping()

    def send(self, sent_ns: int) -> None:
        queue.enqueue(noop, sent_ns, result_ttl=0)

    def send_each(self, stamps: list[int]) -> None:
        for sent_ns in stamps:
            queue.enqueue(noop, sent_ns, result_ttl=0)

    def send_bulk(self, stamps: list[int]) -> None:
        queue.enqueue_many(
            [Queue.prepare_data(noop, (sent_ns,), result_ttl=0) for sent_ns in stamps]
        )

    def roundtrip(self, x: int) -> int:
        job = queue.enqueue(echo, x)
        result = job.latest_result(timeout=30)
        assert result is not None
        return result.return_value

    def close(self) -> None:
        connection.close()


def run_worker(config: str) -> None:
    assert config == "simple"
    logging.basicConfig(level=logging.WARNING)
    SimpleWorker([queue], connection=connection).work(logging_level="WARNING")

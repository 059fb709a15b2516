"""Celery 5 on its Redis transport (kombu): threads pool, prefetch multiplier 4."""

from __future__ import annotations

import common
from celery import Celery, group

LIBRARY = "celery"
BULK_API = "group(...).apply_async() (one publish per task)"
ROUNDTRIP = "delay().get() with the redis result backend (pub/sub)"
CONFIGS = {
    "threads8": "--pool threads -c 8 --prefetch-multiplier 4, without gossip/mingle/heartbeat",
}
DEFAULT_CONFIG = "threads8"

app = Celery("bench", broker=common.URL, backend=common.URL if common.RESULTS else None)
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    worker_prefetch_multiplier=4,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@app.task(name="bench.noop", ignore_result=True)
def noop(sent_ns: int) -> None:
    common.task_body(sent_ns)


@app.task(name="bench.echo", ignore_result=False)
def echo(x: int) -> int:
    return x


class Producer:
    def __init__(self) -> None:
        with app.connection_for_write() as conn:
            conn.ensure_connection()

    def send(self, sent_ns: int) -> None:
        noop.delay(sent_ns)

    def send_each(self, stamps: list[int]) -> None:
        for sent_ns in stamps:
            noop.delay(sent_ns)

    def send_bulk(self, stamps: list[int]) -> None:
        group(noop.s(sent_ns) for sent_ns in stamps).apply_async()

    def roundtrip(self, x: int) -> int:
        return echo.delay(x).get(timeout=30)

    def close(self) -> None:
        pass


def run_worker(config: str) -> None:
    if config.startswith("processes="):  # the multi-process run: the prefork pool, -c N
        processes = config.partition("=")[2]
        app.worker_main(
            [
                *("worker", "--pool=prefork", f"--concurrency={processes}"),
                *("--prefetch-multiplier=4", "--loglevel=WARNING", "--without-gossip"),
                *("--without-mingle", "--without-heartbeat"),
            ]
        )
        return
    assert config == "threads8"
    app.worker_main(
        [
            "worker",
            "--pool=threads",
            "--concurrency=8",
            "--prefetch-multiplier=4",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )

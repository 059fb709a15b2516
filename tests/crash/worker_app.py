"""A real taskq worker process for the crash tests: ``worker_app.main(["--pool", ...])``.

It runs :class:`taskq_core.Worker` (the same code ``taskq worker`` runs) on a
:class:`~taskq_redis.RedisBroker`, with every ``Worker`` option settable from the command line.
Where and who it is comes from the environment, so that the ``processes`` pool's children,
which import ``worker_app:app`` afresh, build the same app: ``TASKQ_CRASH_URL`` (the
redis-server), ``TASKQ_CRASH_PREFIX`` (the test's key prefix), ``TASKQ_CRASH_QUEUE`` and
``TASKQ_CRASH_NAME`` (the worker id). It records what happens in Redis under ``<prefix>:test:``
so the test process can watch it:

* ``ready``     the worker started (hook ``taskq_worker_started``): member ``<name>:<pid>``;
* ``started``   an execution began (hook ``taskq_task_started``);
* ``acked``     an execution was acked (hook ``taskq_task_succeeded``, fired only when the fenced
                ack returned True);
* ``acking``    an ack is about to be sent: the one trace of an ack that went through when its
                worker was killed before it could record ``acked``;
* ``ack_calls`` every ack the worker sent and what the broker answered (``ok``), so a test can
                see a zombie's late ack being refused.

``acking`` and ``ack_calls`` are left out when ``TASKQ_CRASH_RECORD_ACKS=0`` (see
``app_broker``).

Records are JSON members of Redis SETs, one per ``(id, token, worker)``: a record written again
after a lost reply (the test restarts redis-server under the worker) is not counted twice, while
two deliveries of one message (different tokens) always are. Recording retries through a Redis
restart; a task's own start record is written before the task body runs, so even a task that
kills its process is counted.

Tasks (all in the queue ``TASKQ_CRASH_QUEUE``):

* ``crash.work(seconds=0)``  sleep, then succeed;
* ``crash.gated()``          block until the test opens the gate (key ``<prefix>:test:gate``, or
                             ``<prefix>:test:gate:<worker name>`` for this worker only);
* ``crash.file_gated(path)`` block until the file ``path`` exists (a gate that works while
                             Redis is down);
* ``crash.fail()``           always raise (``max_retries=2``, backoff from 0.05 s);
* ``crash.exit()``           kill its own process with ``os._exit(1)``;
* ``crash.held(label)``      like ``crash.gated``, recording the pid of the process running it
                             (``holding``) and, once the gate opened, that it finished
                             (``finished``): the processes pool's children are observable.
* ``crash.double(i)``        return ``2 * i`` (a chord member);
* ``crash.collect(values)``  a chord callback: appends one entry per execution to the LIST
                             ``<prefix>:test:callbacks`` (how many values, whether they are
                             ``2 * i`` in order);
* ``crash.step(x, hold_at)`` return ``x + 1`` (a chain step); at ``x == hold_at`` it first
                             records ``holding`` and waits for the gate, so the test can kill
                             the worker in that step.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import threading
import time
from typing import Any

import redis

from taskq_core import Taskq, Worker
from taskq_core.plugins import hookimpl, plugin_manager

#: How long a record may wait for Redis to come back before giving up, in seconds.
RECORD_PATIENCE = 30.0
#: Pause between two looks at the gate, in seconds (a gated task is a test instrument).
GATE_POLL = 0.02
#: Every ``Worker`` option the command line can set, with its type.
WORKER_OPTIONS = {
    "concurrency": int,
    "async_concurrency": int,
    "prefetch": int,
    "pool": str,
    "visibility_timeout": float,
    "heartbeat_interval": float,
    "schedule_poll_interval": float,
    "reaper_interval": float,
    "worker_timeout": float,
    "block_timeout": float,
    "shutdown_grace": float,
}


class Recorder:
    """Writes the worker's observations into the test's keys, patiently."""

    def __init__(self, url: str, prefix: str, worker: str) -> None:
        self.client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
        self.base = f"{prefix}:test"
        self.worker = worker

    def _patiently(self, command: Any, *args: Any) -> Any:
        deadline = time.monotonic() + RECORD_PATIENCE
        while True:
            try:
                return command(*args)
            except (redis.ConnectionError, redis.TimeoutError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def record(self, kind: str, **fields: Any) -> None:
        """Add one observation of ``kind``; idempotent for identical fields."""
        member = json.dumps({"worker": self.worker, **fields}, sort_keys=True)
        self._patiently(self.client.sadd, f"{self.base}:{kind}", member)

    def gate_open(self) -> bool:
        """True once the test opened the gate for everyone or for this worker."""
        return bool(
            self._patiently(
                self.client.exists, f"{self.base}:gate", f"{self.base}:gate:{self.worker}"
            )
        )


class RecordingPlugin:
    """Hook implementations that report to the test (registered in the worker process only)."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    @hookimpl
    def taskq_worker_started(self, worker: Any) -> None:
        self.recorder.record("ready", pid=os.getpid())

    @hookimpl
    def taskq_task_started(self, delivery: Any) -> None:
        self.recorder.record("started", id=delivery.id, token=delivery.token)

    @hookimpl
    def taskq_task_succeeded(self, delivery: Any, result: object, runtime: float) -> None:
        self.recorder.record("acked", id=delivery.id, token=delivery.token)


def build_broker(url: str, prefix: str, recorder: Recorder) -> Any:
    """A RedisBroker reporting every ack (alone, in a batch or with the next reserve) and its
    answer."""
    from taskq_redis import RedisBroker

    class RecordingBroker(RedisBroker):
        def ack(self, delivery: Any, *args: Any, **kwargs: Any) -> bool:
            recorder.record("acking", id=delivery.id, token=delivery.token)
            ok = super().ack(delivery, *args, **kwargs)
            recorder.record("ack_calls", id=delivery.id, token=delivery.token, ok=ok)
            return ok

        def ack_many(self, deliveries: Any, *args: Any, **kwargs: Any) -> list[bool]:
            for delivery in deliveries:
                recorder.record("acking", id=delivery.id, token=delivery.token)
            acked = super().ack_many(deliveries, *args, **kwargs)
            for delivery, ok in zip(deliveries, acked, strict=True):
                recorder.record("ack_calls", id=delivery.id, token=delivery.token, ok=ok)
            return acked

    return RecordingBroker.from_url(url, prefix=prefix)


def setting(name: str) -> str:
    """One of the ``TASKQ_CRASH_*`` variables the harness sets."""
    return os.environ[f"TASKQ_CRASH_{name}"]


NAME = setting("NAME")
QUEUE = setting("QUEUE")
recorder = Recorder(setting("URL"), setting("PREFIX"), NAME)


def app_broker() -> Any:
    """The recording broker, or a plain one when ``TASKQ_CRASH_RECORD_ACKS=0``.

    Recording waits for Redis before each ack goes out, so a test of what an ack does while
    Redis is down runs without it (``started`` and ``acked`` are still recorded by the hooks).
    """
    if os.environ.get("TASKQ_CRASH_RECORD_ACKS", "1") == "1":
        return build_broker(setting("URL"), setting("PREFIX"), recorder)
    from taskq_redis import RedisBroker

    return RedisBroker.from_url(setting("URL"), prefix=setting("PREFIX"))


app = Taskq(app_broker(), default_queue=QUEUE)


@app.task(name="crash.work")
def work(seconds: float = 0.0) -> None:
    if seconds:
        time.sleep(seconds)


@app.task(name="crash.gated")
def gated() -> None:
    while not recorder.gate_open():
        time.sleep(GATE_POLL)


#: The gate as the worker's event loop sees it: one poller task per process sets the event.
_async_gate: list[asyncio.Event] = []
#: The poller task, kept referenced so it is not collected while it runs.
_pollers: list[asyncio.Task[None]] = []


async def _poll_gate(opened: asyncio.Event) -> None:
    while not await asyncio.to_thread(recorder.gate_open):
        await asyncio.sleep(GATE_POLL)
    opened.set()


@app.task(name="crash.async_gated")
async def async_gated() -> None:
    if not _async_gate:
        _async_gate.append(asyncio.Event())
        _pollers.append(asyncio.get_running_loop().create_task(_poll_gate(_async_gate[0])))
    await _async_gate[0].wait()


@app.task(name="crash.held")
def held(label: str) -> None:
    recorder.record("holding", label=label, pid=os.getpid())
    gated()
    recorder.record("finished", label=label, pid=os.getpid())


@app.task(name="crash.file_gated")
def file_gated(path: str) -> None:
    while not os.path.exists(path):
        time.sleep(GATE_POLL)


@app.task(name="crash.fail", max_retries=2, default_retry_delay=0.05, retry_jitter=False)
def fail() -> None:
    raise RuntimeError("crash.fail always fails")


@app.task(name="crash.double")
def double(i: int) -> int:
    return 2 * i


@app.task(name="crash.collect")
def collect(values: list[int]) -> int:
    entry = {
        "worker": NAME,
        "count": len(values),
        "in_order": values == [2 * i for i in range(len(values))],
    }
    recorder._patiently(recorder.client.rpush, f"{recorder.base}:callbacks", json.dumps(entry))
    return len(values)


@app.task(name="crash.step")
def step(x: int, hold_at: int = -1) -> int:
    if x == hold_at:
        recorder.record("holding", label=f"step-{x}", pid=os.getpid())
        gated()
    return x + 1


@app.task(name="crash.exit")
def exit_process() -> None:
    os._exit(1)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    for option, kind in WORKER_OPTIONS.items():
        parser.add_argument("--" + option.replace("_", "-"), type=kind)
    return parser.parse_args(argv)


def exit_with_parent() -> None:
    """End this worker if the test process dies, so no worker outlives a killed test run."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(3)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    exit_with_parent()
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s {NAME} %(threadName)s %(levelname)s %(name)s: %(message)s",
    )
    plugin_manager().register(RecordingPlugin(recorder))
    options = {name: getattr(args, name) for name in WORKER_OPTIONS}
    worker = Worker(
        app,
        name=NAME,
        queues=[QUEUE],
        **{name: value for name, value in options.items() if value is not None},
    )
    worker.run()


if __name__ == "__main__":
    main()  # the harness imports the module instead, so that worker_app:app is this app

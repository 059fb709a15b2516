"""Workflows survive SIGKILLed workers: a chord's callback runs once, a chain finishes right.

Every follow-up of a step is written in the same atomic step as its ack (flow.lua), so killing a
worker at any moment either leaves the step unacked (it runs again, its follow-up is written
with the second ack) or acked with its follow-up already written; there is no moment in between.
"""

from __future__ import annotations

import json
import random
import signal

from taskq_core import Taskq, chain, chord

from .harness import DEADLINE

#: Members of the chord; two of three workers are killed while these run.
MEMBERS = 2000
#: Steps of the chain.
STEPS = 50


def _producer(crash) -> dict:
    """An app on the test's broker with the worker app's workflow tasks (bodies never run here)."""
    app = Taskq(crash.broker, default_queue=crash.queue)

    @app.task(name="crash.double")
    def double(i: int) -> int:
        raise AssertionError("runs in the workers")

    @app.task(name="crash.collect")
    def collect(values: list[int]) -> int:
        raise AssertionError("runs in the workers")

    @app.task(name="crash.step")
    def step(x: int, hold_at: int = -1) -> int:
        raise AssertionError("runs in the workers")

    return {"double": double, "collect": collect, "step": step}


def test_chord_callback_runs_once_with_every_result_when_workers_die(crash) -> None:
    tasks = _producer(crash)
    workers = [crash.start_worker(concurrency=4, prefetch=4) for _ in range(3)]
    result = chord((tasks["double"].s(i) for i in range(MEMBERS)), tasks["collect"].s()).delay()
    crash.wait_until(
        lambda: len(crash.tally("acked")) >= MEMBERS // 5,
        what=f"a fifth of the {MEMBERS} members are acked",
    )
    for worker in workers[:2]:
        worker.signal(signal.SIGKILL)
    for worker in workers[:2]:
        worker.kill()
    acked_at_kill = len(crash.tally("acked"))
    assert acked_at_kill < MEMBERS, "the kills came after every member was acked"
    assert result.get(timeout=DEADLINE * 2) == MEMBERS
    crash.wait_until(
        lambda: (
            crash.broker.counts(crash.queue).model_dump(
                include={"ready", "scheduled", "processing", "dead"}
            )
            == {"ready": 0, "scheduled": 0, "processing": 0, "dead": 0}
        ),
        what="the queue is empty",
    )
    callbacks = [
        json.loads(entry) for entry in crash.redis.lrange(f"{crash.test_base}:callbacks", 0, -1)
    ]
    assert [(c["count"], c["in_order"]) for c in callbacks] == [(MEMBERS, True)]
    assert not list(crash.redis.scan_iter(match=f"{crash.prefix}:*:chord:*"))
    assert len(crash.tally("started")) == MEMBERS + 1  # every member, and the callback


def test_chain_finishes_with_the_right_value_when_a_step_is_killed(crash) -> None:
    tasks = _producer(crash)
    hold_at = random.Random().randint(1, STEPS - 2)
    print(f"the worker running step {hold_at} is killed")
    crash.start_worker()
    crash.start_worker()
    step = tasks["step"]
    result = chain(
        step.s(0, hold_at=hold_at), *(step.s(hold_at=hold_at) for _ in range(STEPS - 1))
    ).delay()
    holding = crash.wait_until(
        lambda: crash.records("holding"), what=f"a worker runs step {hold_at}"
    )
    victim = next(w for w in crash.workers if w.name == holding[0]["worker"])
    victim.kill()
    crash.open_gate()
    assert result.get(timeout=DEADLINE) == STEPS
    handle, values = result, []
    while handle is not None:
        values.append(handle.get(timeout=0))
        handle = handle.parent
    assert values == list(range(STEPS, 0, -1))
    started = crash.tally("started")
    assert len(started) == STEPS
    assert sorted(started.values()) == [1] * (STEPS - 1) + [2]

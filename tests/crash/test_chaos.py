"""Kills and freezes while a fleet works: every task acked exactly once, no gratuitous rerun.

research/redis-design.md §4 case 9 (duplicated delivery races): reaper against ack at the lease
boundary, reapers of several workers at once, zombies waking up, new workers registering while
the old ones are reaped. The chaos is paced by progress (so many more acks, then the next blow),
and a frozen worker is thawed once its leases were taken from it, never after a fixed sleep.
"""

from __future__ import annotations

import signal

import pytest

pytestmark = [pytest.mark.redis, pytest.mark.slow]

TASKS = 200
WORKER = {"concurrency": 2, "prefetch": 2}


def test_kills_and_freezes_never_lose_a_task_nor_ack_one_twice(crash):
    # Given three workers busy with a stream of tasks of 20-200 ms
    fleet = [crash.start_worker(**WORKER) for _ in range(3)]
    crash.broker.send_batch(
        [crash.message("crash.work", 0.02 + 0.18 * (i % 10) / 9) for i in range(TASKS)]
    )
    disrupted: set[str] = set()

    def after_acks(count):
        crash.wait_until(lambda: len(crash.tally("acked")) >= count, what=f"{count} acks")

    def kill(worker):
        worker.kill()
        disrupted.add(worker.name)
        fleet.append(crash.start_worker(**WORKER))

    def freeze_until_robbed(*workers):
        for worker in workers:
            worker.signal(signal.SIGSTOP)
            disrupted.add(worker.name)
        crash.wait_until(
            lambda: not any(_owns_something(crash, w) for w in workers),
            what="the frozen workers' leases were recovered",
        )
        for worker in workers:
            worker.signal(signal.SIGCONT)

    # When workers are killed, frozen past their leases and thawed, alone and together
    after_acks(20)
    kill(fleet[0])
    after_acks(50)
    freeze_until_robbed(fleet[1])
    after_acks(90)
    kill(fleet[2])
    freeze_until_robbed(fleet[3])
    after_acks(130)
    kill(fleet[1])  # the zombie of the first freeze
    freeze_until_robbed(fleet[4])
    crash.wait_all_acked(timeout=60)

    # Then every task was acked exactly once
    assert crash.check_invariants() == dict.fromkeys(crash.sent, "acked")
    assert set(crash.tally("acked").values()) <= {1}
    # And a task ran more than once only because a worker running it was killed or frozen
    # (an ack never recorded is one whose worker was killed: a disrupted worker too)
    acked_by = {r["id"]: (r["token"], r["worker"]) for r in crash.records("acked")}
    for run in crash.records("started"):
        if (run["token"], run["worker"]) != acked_by.get(run["id"]):
            assert run["worker"] in disrupted, f"{run} ran again without a lost lease"


def _owns_something(crash, worker) -> bool:
    processing = crash.redis.zrange(crash.keys.processing, 0, -1)
    if not processing:
        return False
    owners = crash.redis.hmget(crash.keys.state, [f"{i}:w" for i in processing])
    return worker.name in owners

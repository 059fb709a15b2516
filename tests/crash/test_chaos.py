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
    # (id, token, worker) of every delivery a worker held while it was dead or frozen: the
    # only runs allowed to happen again
    disrupted: set[tuple[str, int, str]] = set()

    def after_acks(count):
        crash.wait_until(lambda: len(crash.tally("acked")) >= count, what=f"{count} acks")

    def until_robbed(*workers):
        """Note what ``workers`` hold until the reaper has taken all of it from them."""

        def robbed():
            held = _held_by(crash, {w.name for w in workers})
            disrupted.update(held)
            return not held

        crash.wait_until(robbed, what="the disrupted workers' leases were recovered")

    def kill(worker):
        worker.kill()
        until_robbed(worker)
        fleet.append(crash.start_worker(**WORKER))

    def freeze_until_robbed(*workers):
        for worker in workers:
            worker.signal(signal.SIGSTOP)
        until_robbed(*workers)
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
    # And a task ran again only after a delivery that a killed or frozen worker held: every
    # run but the last of each message is one of those (the last is the acked one, recorded
    # or, when its worker was killed right after the ack, not)
    runs = sorted((r["id"], r["token"], r["worker"]) for r in crash.records("started"))
    last = {message_id: (message_id, token, worker) for message_id, token, worker in runs}
    again = [run for run in runs if run != last[run[0]]]
    unexplained = [run for run in again if run not in disrupted]
    assert not unexplained, f"ran again without a kill or a freeze: {unexplained}"


def _held_by(crash, workers: set[str]) -> set[tuple[str, int, str]]:
    """(id, token, worker) of the PROCESSING deliveries that ``workers`` own."""
    processing = crash.redis.zrange(crash.keys.processing, 0, -1)
    if not processing:
        return set()
    fields = [f"{i}:{c}" for i in processing for c in ("d", "w")]
    state = crash.redis.hmget(crash.keys.state, fields)
    return {
        (message_id, int(state[2 * at] or 0), state[2 * at + 1])
        for at, message_id in enumerate(processing)
        if state[2 * at + 1] in workers
    }

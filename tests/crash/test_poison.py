"""Poison pills end in DEAD with a reason, and the worker keeps serving normal tasks.

DESIGN.md §1 ("Poison pills end in DEAD"); research/redis-design.md §4 case 8: a task that always
raises, one that kills its worker every time, and a payload nobody can decode.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def _dead(crash, message_id):
    return crash.redis.zscore(crash.keys.dead, message_id) is not None


def _dead_letter(crash, message_id):
    (letter,) = [d for d in crash.broker.list_dead(crash.queue) if d.id == message_id]
    return letter


def _serves_normal_tasks(crash, worker):
    normal = [crash.send("crash.work") for _ in range(3)]
    crash.wait_all_acked(normal)
    assert all(crash.deliveries(i, "acked") == [(1, worker.name)] for i in normal)
    return normal


def test_task_that_always_raises_ends_in_dead_after_its_retries(crash):
    # Given a worker and a task that raises every time (max_retries=2)
    worker = crash.start_worker()
    poison = crash.send("crash.fail")

    # When it has run out of retries
    crash.wait_until(lambda: _dead(crash, poison), what="the failing task is in DEAD")

    # Then it ran once plus two retries and lies in DEAD with the exception as its reason
    assert [token for token, _ in crash.deliveries(poison)] == [1, 2, 3]
    letter = _dead_letter(crash, poison)
    assert letter.reason.startswith("retries exhausted (2): RuntimeError: crash.fail always fails")
    assert (letter.deliveries, letter.retries) == (3, 2)

    # And the same worker process goes on with normal tasks
    normal = _serves_normal_tasks(crash, worker)
    assert worker.alive
    assert crash.check_invariants() == {poison: "dead", **dict.fromkeys(normal, "acked")}


def test_task_that_kills_its_worker_ends_in_dead_after_max_deliveries(crash):
    # Given a supervisor that restarts the worker whenever it dies, and a task that calls
    # os._exit(1) every time it runs, allowed three lost leases
    workers = [crash.start_worker()]
    poison = crash.send("crash.exit", max_deliveries=3)

    def buried_while_supervising():
        if not workers[-1].alive:
            workers.append(crash.start_worker(wait_ready=False))
        return _dead(crash, poison)

    # When its third lease is lost
    crash.wait_until(buried_while_supervising, what="the worker-killing task is in DEAD")

    # Then it ran three times, each time in a different worker process, and lies in DEAD with
    # the lost-lease count as its reason
    runs = crash.deliveries(poison)
    assert [token for token, _ in runs] == [1, 2, 3]
    assert len({name for _, name in runs}) == 3
    assert all(worker.process.returncode == 1 for worker in workers[:3])
    letter = _dead_letter(crash, poison)
    assert letter.reason.startswith("lease lost 3 times (max_deliveries=3)")
    assert crash.tally("acked")[poison] == 0

    # And the worker the supervisor started last serves normal tasks
    survivor = crash.start_worker() if not workers[-1].alive else workers[-1]
    crash.wait_until(lambda: crash.is_ready(survivor), what="the last worker is consuming")
    normal = _serves_normal_tasks(crash, survivor)
    assert crash.check_invariants() == {poison: "dead", **dict.fromkeys(normal, "acked")}


def test_task_that_kills_its_process_ends_in_dead_and_a_process_pool_worker_survives(crash):
    # Given a worker with the processes pool (each task runs in a child process), and a task
    # that calls os._exit(1) every time it runs, allowed three lost leases
    worker = crash.start_worker(pool="processes")
    poison = crash.send("crash.exit", max_deliveries=3)

    # When its third lease is lost
    crash.wait_until(lambda: _dead(crash, poison), what="the process-killing task is in DEAD")

    # Then it ran three times in the same worker (a fresh child each time), lies in DEAD with
    # the lost-lease count as its reason, and the worker serves normal tasks
    assert crash.deliveries(poison) == [(token, worker.name) for token in (1, 2, 3)]
    assert _dead_letter(crash, poison).reason.startswith("lease lost 3 times (max_deliveries=3)")
    normal = _serves_normal_tasks(crash, worker)
    assert worker.alive
    assert crash.check_invariants() == {poison: "dead", **dict.fromkeys(normal, "acked")}


def test_undecodable_payload_ends_in_dead_at_once(crash):
    # Given a worker, and garbage planted in READY behind taskq's back
    worker = crash.start_worker()
    corrupt = crash.plant_corrupt()

    # When the worker reserves it
    crash.wait_until(lambda: _dead(crash, corrupt), what="the corrupt payload is in DEAD")

    # Then it went to DEAD on its first delivery with the decode error, never executed
    letter = _dead_letter(crash, corrupt)
    assert letter.reason.startswith("undecodable payload")
    assert letter.message is None
    assert letter.deliveries == 1
    assert crash.tally("started")[corrupt] == 0

    # And the same worker process goes on with normal tasks
    normal = _serves_normal_tasks(crash, worker)
    assert worker.alive
    assert crash.check_invariants() == {corrupt: "dead", **dict.fromkeys(normal, "acked")}

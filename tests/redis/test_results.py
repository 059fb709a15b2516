"""Results on Redis: the key layout, the BLMOVE rotation every waiter is served by, chunked waits,
and ack/dead with a result in one round trip.

The conformance suite checks the promises (any number of waiters, TTL on the broker clock,
fenced-out settlements keep the result); these tests check how Redis keeps them.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis
from redis.connection import AbstractConnection

from taskq_core.clock import FakeClock
from taskq_core.errors import MessageDecodeError
from taskq_core.schemas import Message, TaskResult
from taskq_core.testing.conformance import BlockedGetResult
from taskq_redis import RedisBroker
from taskq_redis.codec import result_from_stored
from taskq_redis.keys import result_key
from taskq_redis.scripts import script_body

from .conftest import BlockSignal, client_commands, with_query

#: Waiters blocked at once on one result in the fan-out test.
WAITERS = 5
#: Longest a correct wake-up may take before the test calls it missed (real seconds).
WAKE_GUARD_SECONDS = 30.0


def result_of(message_id: str, value: Any = "done") -> TaskResult:
    return TaskResult(id=message_id, status="SUCCESS", value=value, finished_at=1.0)


def sha(script: str) -> str:
    return hashlib.sha1(script_body(script).encode()).hexdigest()


def test_a_result_is_a_one_element_list_under_its_own_tag_with_a_real_ttl(
    fake_broker: RedisBroker, fake_client: redis.Redis, prefix: str
) -> None:
    # When a result is stored for 30 s (server time, no test clock)
    result = result_of("id-1")
    fake_broker.store_result(result, ttl=30.0)
    # Then it is "<prefix>:result:{<id>}", a list of one "<expires_at> <result>" element, the
    # result in its stored form (the key names the id)
    key = result_key(prefix, "id-1")
    assert key == f"{prefix}:result:{{id-1}}"
    assert fake_client.type(key) == b"list"
    (element,) = fake_client.lrange(key, 0, -1)
    expires_at, _, payload = element.decode().partition(" ")
    assert float(expires_at) == pytest.approx(fake_broker.now() + 30.0, abs=5.0)
    assert result_from_stored("id-1", payload) == result
    # And Redis itself expires it
    assert 29_000 < fake_client.pttl(key) <= 30_000


def test_a_ttl_of_zero_stores_nothing_and_drops_the_earlier_result(
    fake_broker: RedisBroker, fake_client: redis.Redis, prefix: str
) -> None:
    fake_broker.store_result(result_of("id-1"), ttl=30.0)
    fake_broker.store_result(result_of("id-1", value="newer"), ttl=0.0)
    assert fake_broker.get_result("id-1") is None
    assert fake_client.exists(result_key(prefix, "id-1")) == 0


def blocked_until(signal: BlockSignal, blmoves: int) -> None:
    """Wait (event-driven) until ``blmoves`` BLMOVEs were sent."""
    while signal.blmoves < blmoves:
        assert signal.blocked.wait(WAKE_GUARD_SECONDS), "no BLMOVE was sent"
        signal.blocked.clear()


def test_a_result_expired_on_the_test_clock_makes_a_waiter_block_not_spin(
    signalling_client: redis.Redis, prefix: str
) -> None:
    signal: BlockSignal = signalling_client.signal  # type: ignore[attr-defined]
    # Given a result that expired on the test clock, its real PEXPIRE still far off
    clock = FakeClock()
    broker = RedisBroker(signalling_client, prefix=prefix, clock=clock, max_block=60.0)
    broker.store_result(result_of("id-1", value="old"), ttl=10.0)
    clock.advance(11.0)
    # When a caller waits for the result
    waiter = BlockedGetResult(broker, "id-1")
    blocked_until(signal, 1)
    # Then it blocks in one BLMOVE until a new result is stored, and gets the new one
    fresh = result_of("id-1", value="new")
    broker.store_result(fresh, ttl=10.0)
    assert waiter.outcome() == fresh
    assert signal.blmoves == 1


def test_a_wait_without_timeout_goes_on_across_chunks(
    signalling_client: redis.Redis, prefix: str
) -> None:
    signal: BlockSignal = signalling_client.signal  # type: ignore[attr-defined]
    # Given a waiter with no timeout on a broker that blocks at most 50 ms per command
    broker = RedisBroker(signalling_client, prefix=prefix, max_block=0.05)
    waiter = BlockedGetResult(broker, "id-1", timeout=None)
    # When three chunks have run out, then the result is stored
    blocked_until(signal, 3)
    result = result_of("id-1")
    broker.store_result(result, ttl=30.0)
    # Then the waiter, still waiting, receives it
    assert waiter.outcome() == result


def blmove_waiters(admin: redis.Redis, name: str) -> int:
    """Connections named ``name`` the server holds blocked in BLMOVE."""
    return sum(
        1 for client in admin.client_list() if client["name"] == name and client["cmd"] == "blmove"
    )


@pytest.mark.redis
def test_every_waiter_blocked_in_blmove_gets_the_result_and_the_ttl_survives(
    redis_url: str, real_client: redis.Redis, prefix: str
) -> None:
    # Given five callers blocked in BLMOVE on one result key of the real server
    broker = RedisBroker.from_url(with_query(redis_url, client_name=prefix), prefix=prefix)
    waiters = [BlockedGetResult(broker, "id-1") for _ in range(WAITERS)]
    blocked = threading.Event()
    for _ in range(3000):  # up to 30 s for five threads to reach the server
        if blmove_waiters(real_client, prefix) == WAITERS:
            break
        blocked.wait(0.01)
    assert blmove_waiters(real_client, prefix) == WAITERS, "the waiters never blocked"
    # When the result is stored for 60 s
    result = result_of("id-1")
    broker.store_result(result, ttl=60.0)
    # Then every one of them receives it (each rotation hands the element on)
    assert [waiter.outcome(within=WAKE_GUARD_SECONDS) for waiter in waiters] == [result] * 5
    # And the rotations left the key as it was: one element, its TTL still running
    key = result_key(prefix, "id-1")
    assert real_client.llen(key) == 1
    assert 0 < real_client.pttl(key) <= 60_000
    assert broker.get_result("id-1") == result
    broker.close()


@pytest.mark.redis
def test_a_rotation_keeps_the_element_and_the_ttl(real_client: redis.Redis, prefix: str) -> None:
    # Given a one-element list with a TTL (a stored result)
    key = result_key(prefix, "raw")
    real_client.rpush(key, "value")
    real_client.pexpire(key, 60_000)
    # When a late waiter's BLMOVE finds it and rotates it
    assert real_client.blmove(key, key, 1, "RIGHT", "RIGHT") == b"value"
    # Then Redis did not delete and recreate the key: element and TTL are still there
    assert real_client.lrange(key, 0, -1) == [b"value"]
    assert 0 < real_client.pttl(key) <= 60_000


#: Settlements with a result, and the scripts each sends in its one round trip.
Settle = Callable[[RedisBroker, Any, TaskResult], object]
SETTLE_WITH_RESULT: dict[str, tuple[Settle, list[str]]] = {
    "ack": (lambda broker, held, result: broker.ack(held, result=result), ["store_result", "ack"]),
    "dead": (
        lambda broker, held, result: broker.dead(held, reason="r", result=result),
        ["store_result", "dead"],
    ),
}


@pytest.mark.redis
@pytest.mark.parametrize("settle", sorted(SETTLE_WITH_RESULT))
def test_settling_with_a_result_is_one_round_trip_of_bare_evalshas(
    private_redis_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch, settle: str
) -> None:
    call, scripts = SETTLE_WITH_RESULT[settle]
    # Given a broker whose scripts are loaded (one settlement done before)
    client = redis.Redis.from_url(private_redis_url)  # no health-check PINGs
    broker = RedisBroker(client, prefix=prefix)
    batch = [Message.build(task="t", queue="jobs") for _ in range(3)]
    broker.send_batch(batch)
    first, second = broker.reserve(["jobs"], worker_id="w", lease=30.0, limit=2)
    call(broker, first, result_of(first.id))
    # And a count of socket writes (one per round trip)
    writes: list[bytes] = []
    original = AbstractConnection.send_packed_command

    def counting(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        writes.append(command)
        original(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    round_trips: list[int] = []

    def settle_second() -> None:
        before = len(writes)
        call(broker, second, result_of(second.id))
        round_trips.append(len(writes) - before)

    # When the next delivery is settled with a result, watched by MONITOR
    sent = client_commands(private_redis_url, settle_second)
    # Then one write carried the scripts as bare EVALSHAs: no SCRIPT EXISTS, result first
    assert round_trips == [1]
    assert [command.split()[:2] for command in sent] == [["EVALSHA", sha(s)] for s in scripts]
    assert broker.get_result(second.id) == result_of(second.id)
    client.close()


def test_a_none_result_is_stored_as_its_finish_time_alone(
    fake_broker: RedisBroker, fake_client: redis.Redis, prefix: str
) -> None:
    # When a task's None is stored
    result = TaskResult(id="id-1", status="SUCCESS", value=None, finished_at=1_700_000_000.25)
    fake_broker.store_result(result, ttl=30.0)

    # Then the element is "<expires_at> <finished_at>", and get() answers the same result
    (element,) = fake_client.lrange(result_key(prefix, "id-1"), 0, -1)
    assert element.decode().partition(" ")[2] == "1700000000.25"
    assert fake_broker.get_result("id-1") == result


@pytest.mark.parametrize(
    "result",
    [
        TaskResult(id="id-1", status="SUCCESS", value={"a": None, "b": [1, None]}, finished_at=2.5),
        TaskResult(id="id-1", status="SUCCESS", value=0),
        TaskResult(id="id-1", status="FAILURE", error_type="E", error_message="m", traceback="t"),
        TaskResult(id="id-1", status="REVOKED", finished_at=3.0),
        TaskResult(id='an "odd" id', status="EXPIRED"),
    ],
    ids=["dict", "zero", "failure", "revoked", "odd-id"],
)
def test_every_result_reads_back_from_its_stored_form(
    fake_broker: RedisBroker, fake_client: redis.Redis, prefix: str, result: TaskResult
) -> None:
    fake_broker.store_result(result, ttl=30.0)

    (element,) = fake_client.lrange(result_key(prefix, result.id), 0, -1)
    assert b'"id"' not in element  # the key names the id
    assert fake_broker.get_result(result.id) == result


def test_a_result_stored_as_whole_json_is_read_too(
    fake_broker: RedisBroker, fake_client: redis.Redis, prefix: str
) -> None:
    # Results of workflow members are stored whole by flow.lua
    result = result_of("id-1")
    fake_client.rpush(result_key(prefix, "id-1"), f"4000000000.0 {result.to_json()}")
    assert fake_broker.get_result("id-1") == result


def test_an_element_that_is_no_result_is_a_decode_error(
    fake_broker: RedisBroker, fake_client: redis.Redis, prefix: str
) -> None:
    fake_client.rpush(result_key(prefix, "id-1"), "4000000000.0 not-a-result")
    with pytest.raises(MessageDecodeError):
        fake_broker.get_result("id-1")


@pytest.mark.redis
def test_a_stored_none_costs_less_than_a_list_of_its_whole_json(
    real_client: redis.Redis, redis_url: str, prefix: str
) -> None:
    # A task that returned None and nobody waits for: its result key alone, on the real server
    with RedisBroker.from_url(f"{redis_url}?prefix={prefix}") as broker:
        result = TaskResult(id=str(uuid.uuid4()), status="SUCCESS", finished_at=time.time())
        broker.store_result(result, ttl=500.0)
        used = real_client.memory_usage(result_key(prefix, result.id), samples=0)
    # (408 bytes with the whole JSON element, 232 with the finish time alone, on Redis 7.0)
    assert used is not None
    assert used <= 300

"""Limits on Redis: where the in-flight cap lives and how the marker treats a full queue; the
rate limiter's key, expiry and bounded work per call."""

from __future__ import annotations

import pytest
import redis

from taskq_core.clock import FakeClock
from taskq_core.schemas import Message
from taskq_core.testing.conformance import BlockedReserve
from taskq_redis import RedisBroker
from taskq_redis.keys import queue_keys, rate_limit_key

from .conftest import BlockSignal, calls_during

#: Stale grants planted in the bounded-trim test: more than two calls' worth of trimming.
STALE_GRANTS = 2_500


def messages(count: int) -> list[Message]:
    return [Message.build(task="t", queue="jobs") for _ in range(count)]


def test_the_cap_is_a_field_of_the_queue_meta_hash(
    fake_broker: RedisBroker, fake_client: redis.Redis, prefix: str
) -> None:
    meta = queue_keys(prefix, "jobs").meta
    fake_broker.set_queue_limit("jobs", max_in_flight=3)
    assert fake_client.hgetall(meta) == {b"max_in_flight": b"3"}
    fake_broker.set_queue_limit("jobs", max_in_flight=None)
    assert fake_client.exists(meta) == 0


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_a_cap_that_is_not_a_count_is_refused(fake_broker: RedisBroker, bad: object) -> None:
    with pytest.raises(ValueError, match="max_in_flight"):
        fake_broker.set_queue_limit("jobs", max_in_flight=bad)  # type: ignore[arg-type]


def test_a_full_cap_clears_the_ready_mark_so_blocked_workers_do_not_spin(
    fake_broker: RedisBroker, fake_client: redis.Redis, prefix: str
) -> None:
    # Given a queue capped at one, with READY work behind the one in flight
    fake_broker.set_queue_limit("jobs", max_in_flight=1)
    fake_broker.send_batch(messages(3))
    held = fake_broker.reserve(["jobs"], worker_id="w", lease=30.0)
    # Then the marker no longer says "READY has work": a BZPOPMIN on it would block
    marker = queue_keys(prefix, "jobs").marker
    assert fake_client.zscore(marker, "r") is None
    # And an ack (room again, work waiting) sets it
    fake_broker.ack(held[0])
    assert fake_client.zscore(marker, "r") == 0


def test_raising_the_cap_wakes_a_reserve_blocked_by_the_old_one(
    signalling_client: redis.Redis, prefix: str
) -> None:
    signal: BlockSignal = signalling_client.signal  # type: ignore[attr-defined]
    # Given a worker blocked on a queue whose cap of one is reached, with work waiting
    broker = RedisBroker(signalling_client, prefix=prefix, max_block=60.0)
    broker.set_queue_limit("jobs", max_in_flight=1)
    broker.send_batch(messages(2))
    broker.reserve(["jobs"], worker_id="w", lease=30.0)
    signal.blocked.clear()
    blocked = BlockedReserve(broker, ["jobs"])
    assert signal.blocked.wait(30.0), "the reserve never blocked"
    # When the cap is raised
    broker.set_queue_limit("jobs", max_in_flight=2)
    # Then the worker wakes with the waiting message
    assert len(blocked.outcome()) == 1


@pytest.mark.redis
def test_a_worker_waiting_on_a_full_cap_sends_about_two_commands_per_chunk(
    private_redis_url: str, prefix: str
) -> None:
    # Given a full capped queue with READY work, on a server nobody else uses
    broker = RedisBroker.from_url(private_redis_url, prefix=prefix, max_block=0.25)
    broker.set_queue_limit("capped", max_in_flight=1)
    broker.send_batch([Message.build(task="t", queue="capped") for _ in range(2)])
    assert len(broker.reserve(["capped"], worker_id="w", lease=30.0)) == 1
    # When a worker waits 1 s for work
    sent = calls_during(
        private_redis_url,
        lambda: broker.reserve(["capped"], worker_id="w", lease=30.0, timeout=1.0),
    )
    # Then it blocked chunk after chunk (~4) instead of being woken by READY's work
    assert 3 <= sent["bzpopmin"] <= 6, sent
    # (the reserve script rides behind each BZPOPMIN; the call's first pass comes on top)
    assert sent["bzpopmin"] <= sent["evalsha"] <= sent["bzpopmin"] + 1, sent
    broker.close()


def test_a_limiter_is_a_zset_of_grants_under_its_own_tag_that_expires(
    fake_client: redis.Redis, prefix: str
) -> None:
    # Given two grants at the same instant of a 3-per-10-s limiter
    broker = RedisBroker(fake_client, prefix=prefix, clock=FakeClock())
    assert broker.acquire_rate_limit("api.calls", limit=3, period=10.0) == 0.0
    assert broker.acquire_rate_limit("api.calls", limit=3, period=10.0) == 0.0
    # Then "<prefix>:{rl:<name>}:log" holds two members (unique at one instant), both scored now
    key = rate_limit_key(prefix, "api.calls")
    assert key == f"{prefix}:{{rl:api.calls}}:log"
    grants = fake_client.zrange(key, 0, -1, withscores=True)
    assert len(grants) == 2
    assert {score for _, score in grants} == {broker.now()}
    # And an idle limiter disappears by itself, a minute after its window
    assert 10_000 < fake_client.pttl(key) <= 70_000


def test_the_limiter_trims_at_most_a_thousand_stale_grants_per_call(
    fake_client: redis.Redis, prefix: str
) -> None:
    # Given a limiter log holding 2500 grants that have all left the window
    clock = FakeClock()
    broker = RedisBroker(fake_client, prefix=prefix, clock=clock)
    key = rate_limit_key(prefix, "bulk")
    fake_client.zadd(key, {f"old-{n}": clock.now() - 100.0 for n in range(STALE_GRANTS)})
    # When grants are asked for
    answers, sizes = [], []
    for _ in range(3):
        answers.append(broker.acquire_rate_limit("bulk", limit=5, period=10.0))
        sizes.append(fake_client.zcard(key))
    # Then each call removed at most 1000 of them (bounded work), and none was counted
    assert answers == [0.0, 0.0, 0.0]
    assert sizes == [1501, 502, 3]


@pytest.mark.parametrize(
    ("name", "limit", "period", "error"),
    [("", 1, 1.0, "name"), ("k", 0, 1.0, "limit"), ("k", 1, 0.0, "period")],
)
def test_a_limiter_call_with_bad_arguments_is_refused(
    fake_broker: RedisBroker, name: str, limit: int, period: float, error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        fake_broker.acquire_rate_limit(name, limit=limit, period=period)

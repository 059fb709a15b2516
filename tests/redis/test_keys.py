"""Key layout: every key of a queue carries the queue's hash tag, so scripts stay in one slot."""

from __future__ import annotations

import re

import fakeredis
import pytest
from redis.crc import key_slot

from taskq_core.clock import FakeClock
from taskq_core.errors import ConfigurationError
from taskq_core.schemas import Message, TaskResult, WorkerInfo
from taskq_redis import RedisBroker
from taskq_redis.keys import (
    check_prefix,
    queue_keys,
    queues_key,
    rate_limit_key,
    result_key,
    worker_queues_key,
)


def test_every_key_of_a_queue_hashes_to_one_slot() -> None:
    keys = queue_keys("taskq", "emails")
    slots = {key_slot(key.encode()) for key in (*keys.all(), keys.wake("token"))}
    assert slots == {key_slot(b"emails")}


def test_key_names_follow_prefix_tag_suffix() -> None:
    keys = queue_keys("app", "emails")
    assert keys.ready_for(7) == "app:{emails}:ready:7"
    assert keys.processing == "app:{emails}:processing"
    assert len(keys.ready) == 10


@pytest.mark.parametrize("prefix", ["", "a{b}", "has space"])
def test_a_prefix_that_would_break_the_hash_tag_is_refused(prefix: str) -> None:
    with pytest.raises(ConfigurationError, match="prefix"):
        check_prefix(prefix)


def test_a_queue_name_with_braces_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid queue name"):
        queue_keys("taskq", "a}b")


def test_result_and_limiter_keys_have_their_own_tags() -> None:
    assert result_key("app", "0192-abc") == "app:result:{0192-abc}"
    assert rate_limit_key("app", "api") == "app:{rl:api}:log"
    assert key_slot(b"app:{rl:api}:log") == key_slot(b"rl:api")


def test_a_full_lifecycle_writes_only_tagged_keys_and_the_documented_others(
    fake_client: fakeredis.FakeRedis, prefix: str
) -> None:
    # Given a broker that goes through every kind of transition on two queues
    clock = FakeClock()
    broker = RedisBroker(fake_client, prefix=prefix, clock=clock)
    settled: list[str] = []
    for queue in ("emails", "reports"):
        broker.set_queue_limit(queue, max_in_flight=10)
        broker.send(Message.build(task="t", queue=queue, priority=3))
        broker.schedule(Message.build(task="t", queue=queue), eta=clock.now() + 5)
        broker.send_heartbeat(WorkerInfo(worker_id="w", queues=(queue,)))
        first = broker.reserve([queue], worker_id="w", lease=10.0)[0]
        broker.retry(first, delay=1.0, error="boom")
        clock.advance(10)
        second = broker.reserve([queue], worker_id="w", lease=10.0)[0]
        broker.postpone(second, delay=0.0)
        second = broker.reserve([queue], worker_id="w", lease=10.0)[0]
        broker.dead(second, reason="gave up", result=failure(second.id))
        third = broker.reserve([queue], worker_id="w", lease=10.0)[0]
        broker.ack(third, result=success(third.id))
        settled += [second.id, third.id]
        broker.acquire_rate_limit(f"{queue}-api", limit=1, period=60.0)
        clock.advance(60)
        broker.recover_expired(queue)
        broker.expire_dead_workers(queue, within=1.0)
    # Then every key is "<prefix>:{<queue>}:<suffix>", except the two documented global sets,
    # the results ("<prefix>:result:{<id>}") and the limiters ("<prefix>:{rl:<name>}:log")
    tagged = re.compile(rf"^{re.escape(prefix)}:\{{(emails|reports)\}}:[a-z_:0-9]+$")
    own_tag = re.compile(
        rf"^{re.escape(prefix)}:(result:\{{[0-9a-f-]+\}}|\{{rl:(emails|reports)-api\}}:log)$"
    )
    names = {key.decode() for key in fake_client.keys(f"{prefix}:*")}
    globals_ = {queues_key(prefix), worker_queues_key(prefix)}
    assert globals_ <= names
    assert {name for name in names if name.startswith(f"{prefix}:result:")} == {
        result_key(prefix, message_id) for message_id in settled
    }
    assert all(tagged.match(name) or own_tag.match(name) for name in names - globals_), sorted(
        names - globals_
    )
    assert {queue_keys(prefix, "emails").meta, rate_limit_key(prefix, "emails-api")} <= names
    assert fake_client.keys("*") == fake_client.keys(f"{prefix}:*")


def success(message_id: str) -> TaskResult:
    return TaskResult(id=message_id, status="SUCCESS", value=1)


def failure(message_id: str) -> TaskResult:
    return TaskResult(id=message_id, status="FAILURE", error_type="E", error_message="m")

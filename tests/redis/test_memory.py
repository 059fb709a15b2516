"""Memory of a queued task: the compact stored form of a message, and no state field for it."""

from __future__ import annotations

import json
import re

import pytest
import redis

from taskq_core.schemas import Message
from taskq_redis import RedisBroker
from taskq_redis.codec import _stored_by_exclusion, full_payload, stored_payload
from taskq_redis.keys import queue_keys
from taskq_redis.scripts import lua_source

MESSAGES = [
    Message(task="bench.noop", args=(0,)),
    Message(task="no.args"),
    Message(
        task="every.field",
        args=(1, "two"),
        kwargs={"a": [1, 2]},
        queue="other",
        priority=7,
        max_retries=2,
        max_deliveries=3,
        headers={"trace": "x"},
        expires=4_000_000_000.5,
    ),
    Message(id='an "odd" \\ id\n', task="odd.id"),
    # arguments that look like the fields the stored form cuts out
    Message(
        task="look.alike",
        args=(',"queue":"default","priority":0,"max_deliveries":5,',),
        kwargs={"queue": "default", "priority": 0, "max_deliveries": 5},
    ),
    Message(task="only.priority", priority=9),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: m.task)
def test_the_stored_form_reads_back_as_the_same_message(message: Message) -> None:
    stored = stored_payload(message)

    assert stored.startswith('"')
    for form in (stored, stored.encode()):
        assert Message.from_json(full_payload(message.queue, message.id, form)) == message


COMMON_MESSAGES = [
    Message(task="bench.noop", args=(0,)),
    Message(task="no.args"),
    Message(task='odd "name" \\ é', args=("ünïcödé", 1.5, -0.0, 1e-9, 10**30, None, True)),
    Message(task="nested", args=([1, [2, {"a": None}]],), kwargs={"k": {"x": [1.25]}}),
    Message(task="only.kwargs", kwargs={"a": 1, "b": "two"}, created_at=1e-05),
]


@pytest.mark.parametrize("message", COMMON_MESSAGES, ids=lambda m: m.task)
def test_the_common_message_s_stored_form_is_what_pydantic_writes_for_it(
    message: Message,
) -> None:
    # The common message is written field by field; the general path leaves fields out of
    # pydantic's JSON of the whole message. Both give the same bytes.
    assert stored_payload(message) == _stored_by_exclusion(message)


def test_the_stored_form_of_a_no_op_fits_redis_s_64_byte_allocation() -> None:
    # 3 bytes of string header and a NUL: a value up to 60 bytes takes 64
    assert len(stored_payload(Message(task="bench.noop", args=(0,)))) <= 60


def test_a_whole_message_s_json_is_read_as_it_is() -> None:
    message = Message(task="t")
    assert full_payload("default", message.id, message.to_json()) == message.to_json()


def test_the_default_max_deliveries_left_out_is_message_s_default() -> None:
    lua = re.search(r"^local DEFAULT_MAX_DELIVERIES = (\d+)$", lua_source("lib"), flags=re.M)
    assert lua is not None
    assert int(lua.group(1)) == Message.model_fields["max_deliveries"].default


def test_a_default_message_writes_no_state_and_a_compact_payload(
    fake_broker: RedisBroker,
) -> None:
    message = Message(task="bench.noop", args=(0,))
    fake_broker.send(message)
    keys = queue_keys(fake_broker.prefix, "default")

    assert fake_broker.client.hgetall(keys.state) == {}
    assert fake_broker.client.hget(keys.payloads, message.id) == stored_payload(message).encode()
    info = fake_broker.message_info("default", message.id)
    assert info is not None
    assert info.message == message
    assert json.loads(info.payload)["id"] == message.id


def test_a_message_with_other_settings_keeps_them_in_its_state(fake_broker: RedisBroker) -> None:
    message = Message(task="t", priority=4, max_deliveries=2)
    fake_broker.send(message)
    keys = queue_keys(fake_broker.prefix, "default")

    assert fake_broker.client.hmget(keys.state, [f"{message.id}:m", f"{message.id}:p"]) == [
        b"2",
        b"4",
    ]


def test_a_dead_letter_shows_the_whole_message_json(fake_broker: RedisBroker) -> None:
    message = Message(task="t", args=(1,))
    fake_broker.send(message)
    (delivery,) = fake_broker.reserve(["default"], worker_id="w", lease=30)
    fake_broker.dead(delivery, reason="boom")

    (letter,) = fake_broker.list_dead("default")
    assert Message.from_json(letter.payload) == message
    assert letter.message == message


@pytest.mark.redis
def test_a_queued_no_op_costs_at_most_200_bytes_of_redis(
    real_client: redis.Redis, redis_url: str, prefix: str
) -> None:
    # Given 20,000 queued no-ops (well past the sizes Redis keeps in compact encodings)
    count = 20_000
    with RedisBroker.from_url(f"{redis_url}?prefix={prefix}") as broker:
        for _ in range(0, count, 1000):
            broker.send_batch([Message(task="bench.noop", args=(0,)) for _n in range(1000)])
        keys = queue_keys(prefix, "default")

        # Then every key of the queue together holds them in at most 200 bytes each
        used = sum(
            real_client.memory_usage(key, samples=0) or 0
            for key in (keys.payloads, keys.state, keys.marker, *keys.ready)
        )
        assert real_client.llen(keys.ready_for(0)) == count
        assert used / count <= 200, f"{used / count:.0f} B per queued task"


def test_an_ack_leaves_no_state_of_a_message_that_gathered_every_field(
    fake_broker: RedisBroker,
) -> None:
    # Given a message with settings (m, p, v), retried once (r, e) and lost once (l)
    message = Message(task="t", priority=3, max_deliveries=4, expires=4_000_000_000.0)
    fake_broker.send(message)
    (first,) = fake_broker.reserve(["default"], worker_id="w", lease=30)
    assert fake_broker.retry(first, delay=0, error="E: boom")
    (second,) = fake_broker.reserve(["default"], worker_id="w", lease=30)
    fake_broker.extend_lease([second], lease=0)
    assert fake_broker.recover_expired("default").requeued == (message.id,)
    (third,) = fake_broker.reserve(["default"], worker_id="w", lease=30)
    keys = queue_keys(fake_broker.prefix, "default")
    held = {f.decode() for f in fake_broker.client.hkeys(keys.state)}
    assert {f"{message.id}:{c}" for c in "dwrlemvp"} <= held

    # When it is acked
    assert fake_broker.ack_many([third]) == [True]

    # Then none of its state fields is left
    left = [f.decode() for f in fake_broker.client.hkeys(keys.state)]
    assert [f for f in left if f.startswith(message.id)] == []

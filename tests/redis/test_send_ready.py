"""The common send: send_ready.lua, written as RESP packed once per queue.

A ``delay()`` with the task's defaults is the call producers make most, so it has a script of
three commands (``lua/send_ready.lua``) and a command head packed once (``ScriptRegistry.packed``).
What is checked: it writes what send.lua writes, only the messages it covers take it, and the
packed bytes are the ones redis-py would write.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis
from redis.connection import Connection

from taskq_core.schemas import Message
from taskq_redis import RedisBroker
from taskq_redis.codec import stored_payload
from taskq_redis.direct import DirectCommands
from taskq_redis.keys import QueueKeys, queue_keys
from taskq_redis.producing import _send_one
from taskq_redis.scripts import ScriptRegistry

pytestmark = pytest.mark.redis


def queue_state(client: redis.Redis, keys: QueueKeys) -> dict[str, Any]:
    """Everything a send may write in one queue, read back."""
    return {
        "payloads": client.hgetall(keys.payloads),
        "state": client.hgetall(keys.state),
        "ready": [client.lrange(key, 0, -1) for key in keys.ready],
        "scheduled": client.zrange(keys.scheduled, 0, -1, withscores=True),
        "marker": client.zrange(keys.marker, 0, -1, withscores=True),
        "unique": client.hgetall(keys.unique),
    }


def test_send_ready_writes_what_send_writes_for_a_message_with_the_defaults(
    real_client: redis.Redis, prefix: str
) -> None:
    # Given one message with the task's defaults, and two queues under separate prefixes
    broker = RedisBroker(real_client, prefix=prefix)
    message = Message(task="t", args=(1, "two"), kwargs={"k": [3]})
    general = queue_keys(f"{prefix}:general", "default")
    common = queue_keys(f"{prefix}:common", "default")
    runner = broker._store.redis
    payload = stored_payload(message)

    def by_send(keys: QueueKeys) -> Any:
        names = [keys.payloads, keys.state, keys.scheduled, keys.marker, keys.ready[0]]
        names += [keys.unique, keys.unique_until]
        return runner.call("send", names, ["", message.id, payload, 0, 5, ""])

    def by_send_ready(keys: QueueKeys) -> Any:
        names = (keys.payloads, keys.ready[0], keys.marker)
        return runner.call_repeated("send_ready", names, [message.id, payload])

    # When each script writes it twice (a send retried after a lost reply)
    assert [by_send(general), by_send(general)] == [1, 0]
    assert [by_send_ready(common), by_send_ready(common)] == [1, 0]

    # Then both queues hold the same: one payload, one READY entry, the marker, no state
    written = queue_state(real_client, common)
    assert written == queue_state(real_client, general)
    assert written["payloads"] == {message.id.encode(): payload.encode()}
    assert written["ready"][0] == [message.id.encode()]
    assert written["marker"] == [(b"r", 0.0)]
    assert written["state"] == {}


@pytest.mark.parametrize(
    ("message", "eta", "replace_result", "script"),
    [
        (Message(task="t", args=(1,)), None, False, "send_ready"),
        (Message(task="t", max_retries=3, headers={"h": "v"}), None, False, "send_ready"),
        (Message(task="t", priority=3), None, False, "send"),
        (Message(task="t", max_deliveries=2), None, False, "send"),
        (Message(task="t", expires=4_000_000_000.0), None, False, "send"),
        (Message(task="t"), 4_000_000_000.0, False, "send"),
        (Message(task="t"), None, True, "send"),
    ],
    ids=["defaults", "headers", "priority", "max_deliveries", "expires", "eta", "chosen-id"],
)
def test_only_a_message_without_state_fields_due_now_takes_send_ready(
    real_client: redis.Redis,
    prefix: str,
    message: Message,
    eta: float | None,
    replace_result: bool,
    script: str,
) -> None:
    broker = RedisBroker(real_client, prefix=prefix)
    call = _send_one(broker._store, "", message, eta, replace_result)
    assert call[0] == script


def test_a_packed_call_is_the_resp_redis_py_writes_for_it() -> None:
    registry = ScriptRegistry()
    keys = ("q:{a}:payloads", "q:{a}:ready:0", "q:{a}:marker")
    packer = Connection()
    for args in (["id-1", '"t","args":[1]'], ["ïd", "ünïcödé \r\n $3"], ["", ""]):
        expected = b"".join(packer.pack_command(*registry.command("send_ready", keys, args)))
        assert registry.packed("send_ready", keys, args) == expected


def test_a_client_that_encodes_text_otherwise_is_sent_unpacked(
    real_client: redis.Redis, redis_url: str, prefix: str
) -> None:
    # Given a client whose connections encode text as Latin-1
    client = redis.Redis.from_url(redis_url, encoding="latin-1")
    assert DirectCommands(redis.Redis.from_url(redis_url)).writes_resp
    assert not DirectCommands(client).writes_resp
    # When messages with the defaults are sent: the queue's first (announced), then more
    broker = RedisBroker(client, prefix=prefix)
    try:
        sent = [Message(task="t", args=(text,)) for text in ("first", "é", "plain")]
        assert [broker.send(message) for message in sent] == [True] * 3
        # Then redis-py packed them, as it packs every other command of that client
        got = broker.reserve(["default"], worker_id="w", lease=5.0, limit=10)
        assert [delivery.message for delivery in got] == sent
    finally:
        broker.close()
        client.close()

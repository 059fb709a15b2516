"""The connection drops after Redis ran a script, before its reply arrives.

research/redis-design.md §4 case 6. The broker's client retries every command that fails with a
connection error (``taskq_redis.connection.command_retry``), so the script runs a second time:
each transition must survive being applied twice. The reply is dropped by a connection class
that reads the real reply, then disconnects and raises, exactly what a cut cable does.
"""

from __future__ import annotations

import pytest
import redis

from taskq_redis import RedisBroker
from taskq_redis.connection import client_from_url

pytestmark = [pytest.mark.redis]


class ReplyCutter:
    """A broker whose next reply matching a predicate is lost with its connection."""

    def __init__(self, url: str, prefix: str) -> None:
        client, _ = client_from_url(url)
        cutter = self
        self.pending = None
        self.cut = 0

        class CuttingConnection(client.connection_pool.connection_class):
            def read_response(self, *args, **kwargs):
                reply = super().read_response(*args, **kwargs)
                if cutter.pending is not None and cutter.pending(reply):
                    cutter.pending = None
                    cutter.cut += 1
                    self.disconnect()
                    raise redis.ConnectionError("reply lost with the connection (test)")
                return reply

        client.connection_pool.connection_class = CuttingConnection
        client.connection_pool.reset()
        self.broker = RedisBroker(client, prefix=prefix)

    def cut_next(self, predicate) -> None:
        self.pending = predicate


@pytest.fixture
def cutter(crash):
    cutter = ReplyCutter(crash.server.url, crash.prefix)
    yield cutter
    cutter.broker.client.close()


def _is_reserve_reply(reply) -> bool:
    return isinstance(reply, list) and len(reply) > 3


def test_send_whose_reply_is_lost_is_not_duplicated(crash, cutter):
    # Given a send whose reply (the pipeline's first) is lost after Redis ran it
    cutter.cut_next(lambda reply: isinstance(reply, int))
    message = crash.message("crash.work")

    # When the client sends it again
    cutter.broker.send(message)

    # Then the message is in READY once
    assert cutter.cut == 1
    assert crash.check_invariants() == {message.id: "ready"}
    assert crash.redis.llen(crash.keys.ready_for(0)) == 1


def test_reserve_whose_reply_is_lost_comes_back_after_its_lease(crash, cutter):
    # Given a message reserved by Redis whose reply never reached the worker
    message_id = crash.send("crash.work")
    cutter.cut_next(_is_reserve_reply)
    assert cutter.broker.reserve([crash.queue], worker_id="w", lease=0.5) == []
    assert cutter.cut == 1
    assert crash.owner(message_id) == (1, "w")
    assert crash.check_invariants() == {message_id: "processing"}

    # When its lease runs out and a reaper passes
    crash.wait_until(
        lambda: crash.broker.recover_expired(crash.queue).requeued,
        what="the orphaned reservation is recovered",
    )

    # Then it is handed out again, as its second delivery
    (again,) = crash.broker.reserve([crash.queue], worker_id="w2", lease=30)
    assert (again.id, again.token) == (message_id, 2)
    assert crash.check_invariants() == {message_id: "processing"}


def test_ack_whose_reply_is_lost_still_reports_the_ack(crash, cutter):
    # Given a reserved message
    message_id = crash.send("crash.work")
    (delivery,) = cutter.broker.reserve([crash.queue], worker_id="w", lease=30)

    # When its ack runs in Redis but the reply is lost and the client retries
    cutter.cut_next(lambda reply: isinstance(reply, int))
    acked = cutter.broker.ack(delivery)

    # Then the message is gone, and the worker is told its ack went through
    assert cutter.cut == 1
    assert crash.redis.hexists(crash.keys.payloads, message_id) == 0
    assert crash.owner(message_id) is None
    assert acked is True


def test_ack_many_whose_reply_is_lost_still_reports_the_acks(crash, cutter):
    # Given two reserved messages
    ours = [crash.send("crash.work") for _ in range(2)]
    held = cutter.broker.reserve([crash.queue], worker_id="w", lease=30, limit=2)
    assert sorted(d.id for d in held) == sorted(ours)

    # When their batched ack runs in Redis but the reply is lost and the client retries
    cutter.cut_next(lambda reply: isinstance(reply, list) and reply == [1, 1])
    acked = cutter.broker.ack_many(held)

    # Then both are gone, and the worker is told both acks went through
    assert cutter.cut == 1
    assert acked == [True, True]
    assert all(crash.owner(message_id) is None for message_id in ours)
    assert crash.redis.hmget(crash.keys.payloads, ours) == [None, None]

"""Blocking reserve: woken by the marker, not by polling; interruptible; few commands idle.

Guards on thread joins are generous wall-clock limits that only a broken wake-up reaches: a
broker that missed the wake-up would sit out its 60 s blocking chunk.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
import redis

from taskq_core.schemas import Delivery, Message
from taskq_redis import RedisBroker
from taskq_redis.connection import command_retry
from taskq_redis.waiting import Wake

from .conftest import BlockSignal, SignallingRedis, calls_during

#: Longest a correct wake-up may take before the test calls it missed (real seconds).
WAKE_GUARD_SECONDS = 30.0
#: Block chunk of the brokers here: long, so only a wake-up can end a wait early.
LONG_BLOCK_SECONDS = 60.0


def message(queue: str = "jobs", **fields: object) -> Message:
    return Message.build(task="tests.noop", queue=queue, **fields)


def reserve_in_background(broker: RedisBroker, queue: str) -> Future[list[Delivery]]:
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(
        broker.reserve, [queue], worker_id="w", lease=30.0, timeout=LONG_BLOCK_SECONDS
    )
    pool.shutdown(wait=False)
    return future


def blocked_reserve(
    client: redis.Redis, prefix: str, act: Callable[[RedisBroker], None]
) -> list[Delivery]:
    """Block a reserve on an empty queue, run ``act`` once it is blocked, return its result."""
    broker = RedisBroker(client, prefix=prefix, max_block=LONG_BLOCK_SECONDS)
    broker.connect()
    # Given a worker blocked on an empty queue
    future = reserve_in_background(broker, "jobs")
    assert client.signal.blocked.wait(WAKE_GUARD_SECONDS), "reserve never blocked"  # type: ignore[attr-defined]
    # When something happens elsewhere
    act(broker)
    return future.result(timeout=WAKE_GUARD_SECONDS)


def test_send_from_another_thread_wakes_a_blocked_reserve(
    signalling_client: redis.Redis, prefix: str
) -> None:
    sent = message()
    sender = threading.Thread(
        target=RedisBroker(signalling_client, prefix=prefix).send, args=(sent,)
    )

    def send(broker: RedisBroker) -> None:
        sender.start()

    # Then the blocked worker gets the message at once
    got = blocked_reserve(signalling_client, prefix, send)
    # (the sender may still be reading its reply: let it finish before the client closes)
    sender.join(WAKE_GUARD_SECONDS)
    assert [delivery.id for delivery in got] == [sent.id]


def test_interrupt_ends_a_blocked_reserve_empty(
    signalling_client: redis.Redis, prefix: str
) -> None:
    # Then the reserve returns promptly with nothing
    assert blocked_reserve(signalling_client, prefix, RedisBroker.interrupt) == []


def test_interrupt_before_blocking_is_not_lost(fake_client: redis.Redis, prefix: str) -> None:
    # Given a reserve that has started but not yet blocked
    broker = RedisBroker(fake_client, prefix=prefix, max_block=LONG_BLOCK_SECONDS)
    generation = broker._waiter.generation()
    # When interrupt() lands in between
    broker.interrupt()
    # Then the wait refuses to start
    keys = [broker._store.keys("jobs")]
    woke, _ = broker._waiter.wait_then(keys, LONG_BLOCK_SECONDS, generation, None)
    assert woke is Wake.INTERRUPTED


def test_message_scheduled_while_blocked_wakes_the_worker_at_its_eta(
    signalling_client: redis.Redis, prefix: str
) -> None:
    scheduled = message()

    def schedule_soon(broker: RedisBroker) -> None:
        broker.schedule(scheduled, eta=broker.now() + 0.2)

    # Then the marker's ETA shortens the wait: the message arrives, not the 60 s timeout
    got = blocked_reserve(signalling_client, prefix, schedule_soon)
    assert [delivery.id for delivery in got] == [scheduled.id]


def test_reserve_blocks_only_until_the_next_eta(fake_client: redis.Redis, prefix: str) -> None:
    # Given a message due in 0.2 s (server time) and a worker that would block a minute
    broker = RedisBroker(fake_client, prefix=prefix, max_block=LONG_BLOCK_SECONDS)
    scheduled = message()
    broker.schedule(scheduled, eta=broker.now() + 0.2)
    # When it reserves with a long timeout
    future = reserve_in_background(broker, "jobs")
    # Then the reply to its first reserve bounds the wait by the ETA
    assert [delivery.id for delivery in future.result(timeout=WAKE_GUARD_SECONDS)] == [scheduled.id]


@pytest.mark.redis
def test_idle_blocked_reserve_sends_about_two_commands_per_chunk(
    private_redis_url: str, prefix: str
) -> None:
    # Given an idle queue on a server nobody else uses, and chunks of 0.25 s
    broker = RedisBroker.from_url(private_redis_url, prefix=prefix, max_block=0.25)
    broker.connect()
    assert broker.reserve(["idle"], worker_id="w", lease=30.0) == []  # scripts now loaded
    # When a worker waits 1 s for work
    sent = calls_during(
        private_redis_url,
        lambda: broker.reserve(["idle"], worker_id="w", lease=30.0, timeout=1.0),
    )
    # Then it sent one reserve script and one BZPOPMIN per chunk (~4 chunks), not a poll loop,
    # and no extra reserve once the timeout is spent (the caller's next reserve does that)
    assert 3 <= sent["bzpopmin"] <= 6, sent
    # (the reserve script rides behind each BZPOPMIN; the call's first pass comes on top)
    assert sent["bzpopmin"] <= sent["evalsha"] <= sent["bzpopmin"] + 1, sent
    broker.close()


@pytest.mark.redis
def test_a_worker_idling_call_after_call_sends_two_commands_per_chunk(
    private_redis_url: str, prefix: str
) -> None:
    # Given a worker whose last blocking reserve just ended empty
    broker = RedisBroker.from_url(private_redis_url, prefix=prefix, max_block=0.25)
    broker.connect()
    assert broker.reserve(["idle"], worker_id="w", lease=30.0, timeout=0.3) == []
    # When it goes on waiting, one blocking reserve after the other (as a worker does)
    sent = calls_during(
        private_redis_url,
        lambda: [broker.reserve(["idle"], worker_id="w", lease=30.0, timeout=0.3) for _ in "ab"],
    )
    # Then each chunk was one BZPOPMIN with its reserve script behind it, and nothing else
    assert sent["bzpopmin"] >= 2, sent
    assert sent["evalsha"] == sent["bzpopmin"], sent
    broker.close()


@pytest.mark.redis
def test_a_woken_reserve_takes_the_message_without_another_pass(
    private_redis_url: str, prefix: str
) -> None:
    # Given a worker blocked on an empty queue
    broker = RedisBroker.from_url(private_redis_url, prefix=prefix, max_block=LONG_BLOCK_SECONDS)
    sender = RedisBroker.from_url(private_redis_url, prefix=prefix)
    broker.connect()
    sender.send(message())  # scripts loaded, queue announced
    assert len(broker.reserve(["jobs"], worker_id="w", lease=30.0)) == 1
    sent_message = message()

    def wake_and_wait() -> list[Delivery]:
        future = reserve_in_background(broker, "jobs")
        while not any(c.get("cmd") == "bzpopmin" for c in sender.client.client_list()):
            threading.Event().wait(0.01)
        sender.send(sent_message)
        return future.result(timeout=WAKE_GUARD_SECONDS)

    # When a message is sent
    got: list[list[Delivery]] = []
    sent = calls_during(private_redis_url, lambda: got.append(wake_and_wait()))
    # Then the reserve behind the BZPOPMIN took it: the first pass, the send, that reserve
    assert [delivery.id for delivery in got[0]] == [sent_message.id]
    assert sent == {"evalsha": 3, "bzpopmin": 1}, sent
    broker.close()
    sender.close()


@pytest.mark.redis
def test_killed_connections_are_reconnected_transparently(
    private_redis_url: str, prefix: str
) -> None:
    # Given a client with taskq's retry policy, and a worker blocked on an empty queue
    client = SignallingRedis.from_url(private_redis_url, socket_timeout=90, retry=command_retry())
    client.signal = BlockSignal()
    broker = RedisBroker(client, prefix=prefix, max_block=LONG_BLOCK_SECONDS)
    broker.connect()
    future = reserve_in_background(broker, "jobs")
    assert client.signal.blocked.wait(WAKE_GUARD_SECONDS)
    admin = redis.Redis.from_url(private_redis_url)
    # When the server drops every other client connection (failover, proxy restart ...)
    assert admin.client_kill_filter(_type="normal", skipme=True) >= 1
    # Then the next command and the blocked wait both carry on through the retry policy
    sent = message()
    assert broker.send(sent)
    assert [delivery.id for delivery in future.result(timeout=WAKE_GUARD_SECONDS)] == [sent.id]
    admin.close()
    client.close()

"""A Redis out of memory (``maxmemory``): clear errors, and bulk sends that can be retried.

On a redis-server of the tests' own, whose ``maxmemory`` each test sets a little above what it
uses and puts back to 0 (no limit) afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import redis
from redis.exceptions import OutOfMemoryError

from taskq_core import BrokerFullError, PartialSendError, Taskq
from taskq_redis import RedisBroker
from taskq_redis.keys import queue_keys

from ..support.redis_server import delete_prefix

pytestmark = pytest.mark.redis

#: Calls in the bulk send: several send_many.lua calls of 1000, so Redis can refuse later ones.
CALLS = 6000


@pytest.fixture
def server(private_redis_url: str, prefix: str) -> Iterator[redis.Redis]:
    """A client of the private server; ``maxmemory`` is back to 0 and the keys gone afterwards."""
    client = redis.Redis.from_url(private_redis_url)
    yield client
    client.config_set("maxmemory", 0)
    delete_prefix(client, prefix)
    client.close()


def limit_memory(client: redis.Redis, headroom: int) -> None:
    """Let Redis take ``headroom`` more bytes than it uses now (0 or less: full already)."""
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory", max(1, used + headroom))


def held_ids(client: redis.Redis, prefix: str) -> set[str]:
    """Ids of the messages the default queue holds."""
    return {key.decode() for key in client.hkeys(queue_keys(prefix, "default").payloads)}


def ready_ids(client: redis.Redis, prefix: str) -> list[str]:
    """Every id in the default queue's READY lists, duplicates kept."""
    keys = queue_keys(prefix, "default")
    return [item.decode() for name in keys.ready for item in client.lrange(name, 0, -1)]


def make_app(url: str, prefix: str) -> Taskq:
    app = Taskq(RedisBroker.from_url(url, prefix=prefix))

    @app.task(name="tests.echo")
    def echo(text: str) -> str:
        return text

    return app


def test_a_bulk_send_refused_part_way_names_the_written_ids_and_its_retry_adds_no_duplicate(
    server: redis.Redis, private_redis_url: str, prefix: str
) -> None:
    # Given an app and a Redis with room for only part of a large batch
    app = make_app(private_redis_url, prefix)
    echo = app.tasks["tests.echo"]
    app.broker.send(echo.build_message(("warm-up",), None))  # the queue name is announced
    calls = [(f"call {i} " + "x" * 300,) for i in range(CALLS)]
    ids = [f"bulk-{i}" for i in range(CALLS)]
    limit_memory(server, headroom=2_200_000)  # about 3 of the 6 send_many.lua calls

    # When the batch is sent with task ids
    with pytest.raises(PartialSendError) as caught:
        echo.delay_many(calls, task_ids=ids)

    # Then the error lists exactly the ids Redis holds as sent, and every other one as unsent,
    # and says why in one line
    error = caught.value
    written = {i for i in held_ids(server, prefix) if i.startswith("bulk-")}
    assert error.sent
    assert error.unsent
    assert set(error.sent) == written
    assert list(error.unsent) == [i for i in ids if i not in written]
    assert list(error.sent) == [i for i in ids if i in written]
    assert isinstance(error.__cause__, BrokerFullError)
    assert "out of memory" in str(error)
    assert "\n" not in str(error)

    # When memory is freed and the whole batch is sent again with the same ids
    server.config_set("maxmemory", 0)
    again = echo.delay_many(calls, task_ids=ids)

    # Then each id is in the queue once: those sent before are reported as duplicates
    assert [handle.duplicate for handle in again] == [i in written for i in ids]
    bulk_ready = [i for i in ready_ids(server, prefix) if i.startswith("bulk-")]
    assert sorted(bulk_ready) == sorted(ids)


def test_a_bulk_send_refused_at_once_writes_nothing_and_says_redis_is_full(
    server: redis.Redis, private_redis_url: str, prefix: str
) -> None:
    # Given a Redis that is already full
    app = make_app(private_redis_url, prefix)
    echo = app.tasks["tests.echo"]
    app.broker.send(echo.build_message(("warm-up",), None))
    limit_memory(server, headroom=-1)

    # When a batch is sent, then nothing is written and the error is taskq's BrokerFullError
    with pytest.raises(BrokerFullError):
        echo.delay_many([("a",), ("b",)], task_ids=["a", "b"])
    assert held_ids(server, prefix) & {"a", "b"} == set()


def test_a_send_to_a_full_redis_is_a_broker_full_error_in_one_line(
    server: redis.Redis, private_redis_url: str, prefix: str
) -> None:
    # Given a Redis that is full
    app = make_app(private_redis_url, prefix)
    echo = app.tasks["tests.echo"]
    app.broker.send(echo.build_message(("warm-up",), None))
    limit_memory(server, headroom=-1)

    # When one call is sent
    with pytest.raises(BrokerFullError) as caught:
        echo.delay("hello")

    # Then the error is one line that says what to do, chained to redis-py's
    text = str(caught.value)
    assert "out of memory" in text
    assert "maxmemory" in text
    assert "\n" not in text
    assert isinstance(caught.value.__cause__, OutOfMemoryError)
    assert len(held_ids(server, prefix)) == 1


def test_an_asyncio_send_to_a_full_redis_is_a_broker_full_error_in_one_line(
    server: redis.Redis, private_redis_url: str, prefix: str
) -> None:
    # Given a Redis that is full, and a queue this producer sent to already (one bare EVALSHA)
    app = make_app(private_redis_url, prefix)
    echo = app.tasks["tests.echo"]

    async def send(text: str) -> None:
        await echo.adelay(text)

    asyncio.run(send("warm-up"))
    limit_memory(server, headroom=-1)

    # When one more call is sent from a coroutine
    with pytest.raises(BrokerFullError) as caught:
        asyncio.run(send("hello"))

    # Then the error is one line, chained to redis-py's, and nothing more was written
    assert "out of memory (used memory > maxmemory) and refused the send" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value.__cause__, OutOfMemoryError)
    assert len(held_ids(server, prefix)) == 1
    app.close()


def test_any_broker_call_refused_for_memory_is_a_broker_full_error(
    server: redis.Redis, private_redis_url: str, prefix: str
) -> None:
    # Given a broker on a Redis that is full
    broker = RedisBroker.from_url(private_redis_url, prefix=prefix)
    broker.connect()
    limit_memory(server, headroom=-1)

    # When a call that writes is refused, then the error is taskq's, naming the cause
    with pytest.raises(BrokerFullError, match="refused the command") as caught:
        broker.set_queue_limit("default", max_in_flight=5)
    assert isinstance(caught.value.__cause__, OutOfMemoryError)

"""taskq on a real 3-primary Redis Cluster: the conformance suite, multi-slot workers."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from taskq_core.schemas import Message, TaskResult
from taskq_core.testing import BrokerConformance, BrokerFactory
from taskq_redis import RedisBroker

from ..support.cluster import RedisCluster, redis_cluster  # noqa: F401 - the session fixture
from ..support.drain import drain_across
from ..support.redis_server import brokers_from

#: Longest a woken wait may take to return (a guard against hangs, not a timing assertion).
WAKE_GUARD_SECONDS = 30.0
#: Longest the recovery of a killed worker's messages may take.
DRAIN_SECONDS = 60.0


@pytest.mark.redis
class TestRedisClusterBroker(BrokerConformance):
    @pytest.fixture
    def make_broker(self, redis_cluster: RedisCluster) -> Iterator[BrokerFactory]:  # noqa: F811
        yield from brokers_from(redis_cluster.url)


#: Coroutines waiting for one result at once: more than redis-py's asyncio cluster client
#: lets one node serve unless told otherwise (100 connections).
MANY_WAITERS = 150


@pytest.mark.redis
def test_more_coroutines_than_a_hundred_wait_for_one_result_on_a_cluster(
    redis_cluster: RedisCluster,  # noqa: F811
) -> None:
    # Given 150 coroutines waiting for the result of one message, each on its own connection
    broker = RedisBroker.from_url(redis_cluster.url, prefix=f"tq-test-{uuid.uuid4().hex[:8]}")
    producer = broker.async_producer()
    nodes = [redis.Redis(port=port) for port in redis_cluster.ports]
    message_id = str(uuid.uuid4())

    def blocked() -> int:
        return sum(int(node.info("clients")["blocked_clients"]) for node in nodes)

    async def scenario() -> list[object]:
        waits = [
            asyncio.create_task(producer.aget_result(message_id, timeout=None))
            for _ in range(MANY_WAITERS)
        ]
        # When every one of them blocks (a refused wait would end at once, with an error)
        while blocked() < MANY_WAITERS and not any(wait.done() for wait in waits):
            await asyncio.sleep(0.01)
        # And the result is stored
        broker.store_result(TaskResult(id=message_id, status="SUCCESS", value=7))
        return list(await asyncio.wait_for(asyncio.gather(*waits, return_exceptions=True), 60))

    try:
        got = asyncio.run(scenario())
        # Then every waiter has it
        assert [getattr(value, "value", value) for value in got] == [7] * MANY_WAITERS
    finally:
        broker.close()
        for node in nodes:
            node.close()


def queues_on_three_slots(broker: RedisBroker) -> list[str]:
    """Three queue names whose keys are held by three different primaries of the cluster."""
    from redis.crc import key_slot

    from taskq_redis.keys import queue_keys

    by_node: dict[str, str] = {}
    index = 0
    while len(by_node) < 3:
        name = f"q{index}"
        slot = key_slot(queue_keys(broker.prefix, name).marker.encode())
        by_node.setdefault(broker.client.nodes_manager.get_node_from_slot(slot).name, name)
        index += 1
    return list(by_node.values())


@pytest.mark.redis
def test_a_worker_of_queues_on_three_primaries_is_woken_by_a_send_to_any(
    redis_cluster: RedisCluster,  # noqa: F811
) -> None:
    # Given a broker whose blocking waits last a minute, and three queues on three primaries
    prefix = f"tq-test-{uuid.uuid4().hex[:8]}"
    broker = RedisBroker.from_url(redis_cluster.url, prefix=prefix, max_block=60.0)
    producer = RedisBroker.from_url(redis_cluster.url, prefix=prefix)
    queues = queues_on_three_slots(broker)
    try:
        for target in queues:
            # When a reserve over all three blocks, and a message arrives in one of them
            with ThreadPoolExecutor(1) as pool:
                waiting = pool.submit(
                    broker.reserve, queues, worker_id="w", lease=30.0, timeout=60.0
                )
                message = Message.build(task="t", queue=target)
                producer.send(message)
                # Then the wait returns with it, woken by that queue's marker (no CROSSSLOT,
                # and well before the one-minute chunk a poll would have to wait out)
                (got,) = waiting.result(timeout=WAKE_GUARD_SECONDS)
            assert got.id == message.id
            assert broker.ack(got)
    finally:
        broker.close()
        producer.close()


HOLDER = """
import sys, time
from taskq_redis import RedisBroker
broker = RedisBroker.from_url(sys.argv[1], prefix=sys.argv[2])
held = broker.reserve(sys.argv[3].split(","), worker_id="doomed", lease=1.0, limit=1000)
print(len(held), flush=True)
time.sleep(600)
"""


@pytest.mark.redis
@pytest.mark.slow
def test_a_worker_killed_holding_messages_of_three_primaries_loses_none(
    redis_cluster: RedisCluster,  # noqa: F811
) -> None:
    # Given messages in three queues on three primaries
    prefix = f"tq-test-{uuid.uuid4().hex[:8]}"
    broker = RedisBroker.from_url(redis_cluster.url, prefix=prefix)
    queues = queues_on_three_slots(broker)
    messages = [Message.build(task="t", queue=queues[n % 3]) for n in range(60)]
    sent = {message.id for message in messages}
    assert all(broker.send_batch(messages))
    # And a worker process that reserved some of them, with a one-second lease
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, redis_cluster.url, prefix, ",".join(queues)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        held = int(holder.stdout.readline())
        assert held > 0
        # When it is killed with SIGKILL
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=30)
        if holder.stdout is not None:
            holder.stdout.close()
    # Then another worker recovers the expired leases and every message is acked once
    acked: set[str] = set()
    deadline = time.monotonic() + DRAIN_SECONDS
    while acked != sent and time.monotonic() < deadline:
        for queue in queues:
            broker.recover_expired(queue)
        for delivery in broker.reserve(
            queues, worker_id="heir", lease=30.0, limit=100, timeout=1.0
        ):
            assert delivery.id not in acked
            assert broker.ack(delivery)
            acked.add(delivery.id)
    assert acked == sent
    broker.close()


def filled_queue(
    cluster: RedisCluster, queue: str, count: int
) -> tuple[RedisBroker, set[str], int, int]:
    """A broker with ``count`` messages sent to ``queue``; their ids, its slot, its primary."""
    from redis.crc import key_slot

    from taskq_redis.keys import queue_keys

    broker = RedisBroker.from_url(cluster.url, prefix=f"tq-test-{uuid.uuid4().hex[:8]}")
    messages = [Message.build(task="t", queue=queue) for _ in range(count)]
    assert all(broker.send_batch(messages))
    slot = key_slot(queue_keys(broker.prefix, queue).marker.encode())
    primary = int(broker.client.nodes_manager.get_node_from_slot(slot).port)
    return broker, {message.id for message in messages}, slot, primary


def migrate_slot(cluster: RedisCluster, slot: int, source: int, target: int) -> None:
    """Move ``slot`` from the node on port ``source`` to the one on ``target``, keys included.

    The steps ``redis-cli --cluster reshard`` takes: IMPORTING on the target, MIGRATING on the
    source (clients now get ASK for keys already moved), MIGRATE of the slot's keys in batches
    until none is left, then the slot assigned to the target on every node (MOVED from then on).
    """
    nodes = {port: redis.Redis(port=port, decode_responses=True) for port in cluster.ports}
    ids = {port: str(client.execute_command("CLUSTER", "MYID")) for port, client in nodes.items()}
    nodes[target].execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[source])
    nodes[source].execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[target])
    while keys := nodes[source].execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100):
        nodes[source].execute_command("MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", *keys)
    for port in (target, source):
        nodes[port].execute_command("CLUSTER", "SETSLOT", slot, "NODE", ids[target])
    # (the other nodes learn the new owner through the cluster bus)
    for client in nodes.values():
        client.close()


@pytest.mark.redis
@pytest.mark.slow
def test_a_queue_whose_slot_migrates_mid_run_loses_nothing(
    redis_cluster: RedisCluster,  # noqa: F811
) -> None:
    # Given a queue with messages
    broker, sent, slot, source = filled_queue(redis_cluster, "moving", 300)
    primaries = [int(node.port) for node in broker.client.get_primaries()]
    target = next(port for port in primaries if port != source)
    # When the queue's slot moves to another primary while a worker drains it
    drain = drain_across(
        broker, "moving", sent, lambda: migrate_slot(redis_cluster, slot, source, target)
    )
    # Then every message is acked, the queue is empty on its new node, and the broker's
    # client follows the slot there
    assert drain.acked == sent, drain.missing(sent)
    assert broker.counts("moving").processing == 0
    assert int(broker.client.nodes_manager.get_node_from_slot(slot).port) == target
    broker.close()


@pytest.mark.redis
@pytest.mark.slow
def test_a_primary_failover_mid_run_completes_every_accepted_task(
    redis_cluster: RedisCluster,  # noqa: F811
) -> None:
    # Given tasks accepted in a queue, replicated to its primary's replica
    broker, sent, slot, primary = filled_queue(redis_cluster, "failing", 200)
    replica = redis_cluster.replica_of(primary)
    with redis.Redis(port=primary) as direct:
        assert direct.execute_command("WAIT", 1, 10_000) == 1
    # When the replica takes over from its primary (CLUSTER FAILOVER) while a worker drains
    # the queue (a quarter of the tasks before, a quarter during, the rest after)
    drain = drain_across(broker, "failing", sent, lambda: redis_cluster.failover(replica))
    # Then every accepted task completes, and the client sends to the new primary
    assert drain.acked == sent, drain.missing(sent)
    assert broker.counts("failing").processing == 0
    assert int(broker.client.nodes_manager.get_node_from_slot(slot).port) == replica
    broker.close()


def test_the_demo_runs_on_a_cluster_without_its_chord(
    redis_cluster: RedisCluster,  # noqa: F811
) -> None:
    # Given the README's demo pointed at a cluster, which offers no workflows
    from io import StringIO

    from rich.console import Console

    from taskq_core.demo import run_demo

    out = StringIO()
    url = f"{redis_cluster.url}?prefix=demo-{uuid.uuid4().hex[:8]}"

    # When it runs, then every task ends and the chord line says why it was left out
    counts = run_demo(url, tasks=30, console=Console(file=out, width=200))
    assert counts["succeeded"] > 0
    assert "chord: not sent: " in out.getvalue()
    assert "on a Redis Cluster" in out.getvalue()

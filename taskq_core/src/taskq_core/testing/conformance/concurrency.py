"""Races: many threads on one broker never hand a message out twice or lose one.

Threads are released together by a barrier (``run_concurrently``) and nothing sleeps; the only
wall-clock values are guards that a hanging backend would hit.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from functools import partial
from typing import TYPE_CHECKING

from taskq_core.schemas import Message, QueueCounts
from taskq_core.testing.conformance.base import (
    LEASE,
    THREAD_GUARD_TIMEOUT,
    WORKER,
    ConformanceBase,
    reserved_ids,
    run_concurrently,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from taskq_core.broker import BaseBroker
    from taskq_core.clock import FakeClock
    from taskq_core.testing.plugin import MessageFactory

#: Messages and threads in the reservation race: enough to interleave, small enough to be quick.
RACE_MESSAGES = 500
RACE_THREADS = 8


class ConcurrencyTests(ConformanceBase):
    """Every operation is atomic: races settle with exactly one winner."""

    def test_concurrent_reservers_get_each_message_exactly_once(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Eight threads draining 500 messages in batches never share or drop one."""
        # Given 500 ready messages
        sent = [make_message() for _ in range(RACE_MESSAGES)]
        assert all(broker.send_batch(sent))

        def drain(worker: int) -> tuple[list[str], list[bool]]:
            got: list[str] = []
            acks: list[bool] = []
            limit = 1 + worker % 4
            while batch := broker.reserve(
                [queue_name], worker_id=f"w{worker}", lease=LEASE, limit=limit
            ):
                got.extend(reserved_ids(batch))
                acks.extend(broker.ack(delivery) for delivery in batch)
            return got, acks

        # When eight threads reserve and ack until the queue is empty
        results = run_concurrently([partial(drain, w) for w in range(RACE_THREADS)])
        # Then every message was handed out once, every ack succeeded, and nothing is left
        handed_out = Counter(i for got, _ in results for i in got)
        assert handed_out == Counter(m.id for m in sent)
        assert all(ack for _, acks in results for ack in acks)
        assert broker.counts(queue_name) == QueueCounts(queue=queue_name)

    def test_concurrent_producers_and_blocking_consumers_meet(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Consumers blocked in reserve pick up everything producers send, once each."""
        # Given four producers with 50 messages each, and four consumers that block for work
        batches = [[make_message() for _ in range(50)] for _ in range(4)]
        expected = Counter(m.id for batch in batches for m in batch)
        consumed: list[str] = []
        lock = threading.Lock()
        give_up_at = time.monotonic() + THREAD_GUARD_TIMEOUT

        def produce(batch: list[Message]) -> list[str]:
            return [m.id for m in batch if broker.send(m)]

        def consume(worker: int) -> list[str]:
            while time.monotonic() < give_up_at:
                with lock:
                    if len(consumed) >= len(expected):
                        break
                batch = broker.reserve(
                    [queue_name], worker_id=f"c{worker}", lease=LEASE, limit=3, timeout=0.05
                )
                acked = [d.id for d in batch if broker.ack(d)]
                with lock:
                    consumed.extend(acked)
            return []

        # When producers and consumers all start at once
        calls: list[Callable[[], list[str]]] = [partial(produce, b) for b in batches]
        calls += [partial(consume, w) for w in range(4)]
        sent = run_concurrently(calls)
        # Then every message was accepted once, and consumed and acked once
        assert Counter(i for ids in sent for i in ids) == expected
        assert Counter(consumed) == expected

    def test_concurrent_sends_of_the_same_ids_store_each_once(
        self, broker: BaseBroker, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Idempotency holds under races: one sender wins each id."""
        # Given 100 messages that eight threads all try to send
        messages = [make_message() for _ in range(100)]
        # When they race
        results = run_concurrently([lambda: broker.send_batch(messages)] * RACE_THREADS)
        # Then each id was accepted exactly once and stored once
        wins = [sum(result[i] for result in results) for i in range(len(messages))]
        assert wins == [1] * len(messages)
        assert broker.counts(queue_name).ready == len(messages)

    def test_concurrent_acks_of_one_delivery_ack_it_once(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """When several threads ack the same deliveries, each message is acked exactly once.

        Every thread is told its delivery was acked (a repeated ack of one delivery answers
        like the first), and no message is left behind for a reaper to hand out again.
        """
        # Given 100 reserved messages
        broker.send_batch([make_message() for _ in range(100)])
        held = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE, limit=100)
        assert len(held) == 100

        def ack_all() -> list[bool]:
            return [broker.ack(delivery) for delivery in held]

        # When four threads ack all of them
        results = run_concurrently([ack_all] * 4)
        # Then each message was acked once, and every ack reports it
        assert all(all(result) for result in results)
        assert broker.counts(queue_name).processing == 0
        clock.advance(LEASE + 1.0)
        assert not broker.recover_expired(queue_name)
        assert broker.counts(queue_name) == QueueCounts(queue=queue_name)

    def test_concurrent_reapers_recover_each_message_once(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """Reapers running at once on many workers split the expired leases, never doubling."""
        # Given 200 expired leases
        broker.send_batch([make_message() for _ in range(200)])
        held = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE, limit=200)
        clock.advance(LEASE + 1.0)

        def reap() -> list[str]:
            recovered: list[str] = []
            while report := broker.recover_expired(queue_name, limit=7):
                recovered.extend(report.requeued + report.dead)
            return recovered

        # When four reapers run concurrently
        results = run_concurrently([reap] * 4)
        # Then each message was recovered by exactly one of them, and all are ready once
        assert Counter(i for r in results for i in r) == Counter(d.id for d in held)
        counts = broker.counts(queue_name)
        assert (counts.ready, counts.processing) == (200, 0)

    def test_ack_racing_the_reaper_has_one_winner(
        self, broker: BaseBroker, clock: FakeClock, make_message: MessageFactory, queue_name: str
    ) -> None:
        """At the lease boundary, each message is either acked or recovered, never both."""
        # Given 200 expired, unrecovered leases
        broker.send_batch([make_message() for _ in range(200)])
        held = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE, limit=200)
        clock.advance(LEASE + 1.0)

        def ack_all() -> list[str]:
            return [d.id for d in held if broker.ack(d)]

        def reap() -> list[str]:
            reports = [broker.recover_expired(queue_name, limit=5) for _ in range(60)]
            return [i for report in reports for i in report.requeued + report.dead]

        # When one thread acks everything while another reaps
        acked, recovered = (set(ids) for ids in run_concurrently([ack_all, reap]))
        # Then each message was acked xor recovered, and the recovered ones are ready
        assert acked.isdisjoint(recovered)
        assert acked | recovered == {d.id for d in held}
        assert broker.counts(queue_name).ready == len(recovered)

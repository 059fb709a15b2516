"""Memory-backend internals: URL parsing, registration, blocking and waking, the raw back door,
and the choices the broker contract leaves to the backend.

Shared semantics live in the conformance suite (test_conformance_memory.py); these tests cover
what only this backend has.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from taskq_core.backends import connect
from taskq_core.broker import DEFAULT_RESULT_TTL
from taskq_core.capabilities import ALL_CAPABILITIES
from taskq_core.clock import FakeClock
from taskq_core.errors import ConfigurationError
from taskq_core.schemas import Message, TaskResult
from taskq_core.testing import BlockedGetResult, BlockedReserve
from taskq_memory import MemoryBroker
from taskq_memory import plugin as memory_plugin
from taskq_memory.results import ResultRecords

WORKER = "worker-a"
LEASE = 30.0


@pytest.fixture
def broker(clock: FakeClock) -> MemoryBroker:
    return MemoryBroker(clock=clock)


# -- from_url and registration -------------------------------------------------------------------


@pytest.mark.parametrize("url", ["memory://", "memory:///", "MEMORY://"])
def test_from_url_accepts_the_memory_scheme(url: str) -> None:
    # Given a memory URL, when a broker is built from it, then it is a memory broker
    assert isinstance(MemoryBroker.from_url(url), MemoryBroker)


@pytest.mark.parametrize(
    "url",
    ["redis://localhost", "memory://somehost", "memory:///some/path", "memory://?x=1", "memory"],
)
def test_from_url_rejects_anything_else_in_one_line(url: str) -> None:
    # Given a URL that is not exactly memory://, when a broker is built from it
    with pytest.raises(ConfigurationError) as error:
        MemoryBroker.from_url(url)
    # Then the error is one line naming the URL
    assert "\n" not in str(error.value)
    assert repr(url) in str(error.value)


def test_from_url_takes_a_clock_option(clock: FakeClock) -> None:
    # Given a fake clock passed as an option
    broker = MemoryBroker.from_url("memory://", clock=clock)
    # When the clock moves, then the broker's time follows it
    clock.advance(100.0)
    assert broker.now() == clock.now()


@pytest.mark.parametrize(
    ("options", "needle"), [({"prefix": "x"}, "prefix"), ({"clock": 42}, "clock")]
)
def test_from_url_rejects_unknown_or_bad_options(options: dict[str, object], needle: str) -> None:
    # Given an option the memory backend does not take, when a broker is built
    with pytest.raises(ConfigurationError, match=needle):
        MemoryBroker.from_url("memory://", **options)


def test_plugin_registers_the_memory_scheme() -> None:
    # Given the plugin's hook, when it is asked for its backends
    registered: dict[str, Callable[..., object]] = {}
    memory_plugin.taskq_register_backends(register=registered.__setitem__)
    # Then it serves memory:// with a factory building a MemoryBroker
    assert list(registered) == ["memory"]
    assert isinstance(registered["memory"]("memory://"), MemoryBroker)


def test_connect_finds_the_memory_backend_through_the_entry_point() -> None:
    # Given the installed distribution, when a memory URL is connected
    broker = connect("memory://")
    # Then the registry built a MemoryBroker
    assert isinstance(broker, MemoryBroker)


def test_the_memory_backend_says_single_process_and_offers_every_capability() -> None:
    # The CLI warns that only this process reaches memory:// because of this flag
    assert MemoryBroker.scheme == "memory"
    assert MemoryBroker.cross_process is False
    assert all(issubclass(MemoryBroker, capability) for capability in ALL_CAPABILITIES)


def test_default_time_is_the_process_clock() -> None:
    # Given a broker without a clock, then its time is time.time()
    before = time.time()
    now = MemoryBroker().now()
    assert before <= now <= time.time()


# -- reserve arguments --------------------------------------------------------------------------


def test_reserve_accepts_one_queue_name_as_a_string(broker: MemoryBroker) -> None:
    # Given a message, when reserve is given a bare queue name rather than a list
    message = Message(task="t", queue="jobs")
    broker.send(message)
    batch = broker.reserve("jobs", worker_id=WORKER, lease=LEASE)
    # Then the name is one queue, not its characters
    assert [d.id for d in batch] == [message.id]


def test_reserve_rejects_a_limit_below_one(broker: MemoryBroker) -> None:
    with pytest.raises(ValueError, match="limit"):
        broker.reserve(["jobs"], worker_id=WORKER, lease=LEASE, limit=0)


# -- blocking and waking ------------------------------------------------------------------------


def test_a_real_time_eta_wakes_a_blocked_reserve_without_any_call(queue_name: str) -> None:
    # Given a broker on the process clock and a message due in 50 ms
    broker = MemoryBroker()
    broker.schedule(Message(task="t", queue=queue_name), eta=broker.now() + 0.05)
    # When a worker blocks on the queue with a long timeout
    blocked = BlockedReserve(broker, [queue_name], timeout=60.0)
    # Then it wakes at the ETA by itself and gets the message
    assert len(blocked.outcome()) == 1


def test_interrupt_does_not_affect_later_reserves(broker: MemoryBroker, queue_name: str) -> None:
    # Given an interrupt that happened earlier
    broker.interrupt()
    # When a worker then blocks and a message is sent
    blocked = BlockedReserve(broker, [queue_name])
    broker.send(Message(task="t", queue=queue_name))
    # Then the worker waited for it instead of returning empty at once
    assert len(blocked.outcome()) == 1


def test_close_wakes_blocked_reserves(broker: MemoryBroker, queue_name: str) -> None:
    # Given a worker blocked on an empty queue
    blocked = BlockedReserve(broker, [queue_name])
    # When the broker is closed (repeatedly: only reserves already blocked are woken)
    got = blocked.poke_until_returned(broker.close)
    # Then the reserve returned empty
    assert got == []


# -- payloads on the wire -----------------------------------------------------------------------


def test_payload_is_stored_as_the_json_producers_write(
    broker: MemoryBroker, queue_name: str
) -> None:
    # Given a buried message
    message = Message(task="t", queue=queue_name, args=(1, "x"))
    broker.send(message)
    (held,) = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE)
    broker.dead(held, reason="test")
    # When it is listed, then the raw payload is exactly the wire encoding
    (letter,) = broker.list_dead(queue_name)
    assert letter.payload == message.to_json()


def test_inject_raw_with_a_valid_payload_is_delivered_decoded(
    broker: MemoryBroker, queue_name: str
) -> None:
    # Given a valid message written through the back door
    message = Message(task="t", queue=queue_name, kwargs={"a": 1})
    assert broker.inject_raw(queue_name, message.id, message.to_json()) is True
    # When it is reserved, then it decodes to the same message
    (delivery,) = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE)
    assert delivery.message == message


def test_inject_raw_is_idempotent_by_id(broker: MemoryBroker, queue_name: str) -> None:
    assert broker.inject_raw(queue_name, "x", "garbage") is True
    assert broker.inject_raw(queue_name, "x", "other garbage") is False
    assert broker.counts(queue_name).ready == 1


def test_inject_raw_rejects_an_invalid_queue_name(broker: MemoryBroker) -> None:
    with pytest.raises(ValueError, match="invalid queue name"):
        broker.inject_raw("bad {name}", "x", "garbage")


def test_payload_naming_another_queue_is_delivered_from_where_it_lies(
    broker: MemoryBroker, queue_name: str, other_queue: str
) -> None:
    # Given a payload that says queue B written into queue A
    message = Message(task="t", queue=other_queue)
    broker.inject_raw(queue_name, message.id, message.to_json())
    # When it is reserved from A
    (delivery,) = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE)
    # Then the delivery belongs to A, so fencing finds it and the ack works
    assert delivery.queue == queue_name
    assert broker.ack(delivery) is True


def test_a_batch_is_refilled_past_undecodable_payloads(
    broker: MemoryBroker, queue_name: str
) -> None:
    # Given two corrupt payloads ahead of two valid messages
    broker.inject_raw(queue_name, "bad-1", "{")
    broker.inject_raw(queue_name, "bad-2", "[]")
    good = [Message(task="t", queue=queue_name) for _ in range(2)]
    broker.send_batch(good)
    # When two are reserved
    batch = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE, limit=2)
    # Then the two valid ones fill the batch and the corrupt ones are dead
    assert [d.id for d in batch] == [m.id for m in good]
    assert broker.counts(queue_name).dead == 2


@pytest.fixture
def other_queue(queue_name: str) -> str:
    return f"{queue_name}-b"


# -- choices the broker contract leaves to the backend ---------------------------------------------


def test_postpone_without_delay_goes_to_the_back_of_its_priority_level(
    broker: MemoryBroker, queue_name: str
) -> None:
    # Given a held message and a newer one of the same priority waiting
    first, newer = Message(task="t", queue=queue_name), Message(task="t", queue=queue_name)
    broker.send(first)
    (held,) = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE)
    broker.send(newer)
    # When the held one is postponed without delay
    assert broker.postpone(held, delay=0.0) is True
    # Then the newer message comes first: a postponed task waits its turn again
    batch = broker.reserve([queue_name], worker_id=WORKER, lease=LEASE, limit=2)
    assert [d.id for d in batch] == [newer.id, first.id]


def test_removing_a_cap_wakes_a_reserve_blocked_by_it(
    broker: MemoryBroker, queue_name: str
) -> None:
    # Given a queue capped at 1 with one message in flight, one ready, and a blocked worker
    broker.set_queue_limit(queue_name, max_in_flight=1)
    broker.send_batch([Message(task="t", queue=queue_name) for _ in range(2)])
    broker.reserve([queue_name], worker_id=WORKER, lease=LEASE)
    blocked = BlockedReserve(broker, [queue_name])
    # When the cap is removed
    broker.set_queue_limit(queue_name, max_in_flight=None)
    # Then the blocked worker gets the ready message
    assert len(blocked.outcome()) == 1


@pytest.mark.parametrize("max_in_flight", [0, -1])
def test_set_queue_limit_rejects_a_cap_below_one(broker: MemoryBroker, max_in_flight: int) -> None:
    with pytest.raises(ValueError, match="max_in_flight"):
        broker.set_queue_limit("jobs", max_in_flight=max_in_flight)


@pytest.mark.parametrize(("limit", "period"), [(0, 1.0), (1, 0.0), (1, -1.0)])
def test_acquire_rate_limit_rejects_limits_nothing_fits(
    broker: MemoryBroker, limit: int, period: float
) -> None:
    with pytest.raises(ValueError, match="rate limit"):
        broker.acquire_rate_limit("k", limit=limit, period=period)


def test_a_lowered_rate_limit_waits_until_enough_grants_leave(
    broker: MemoryBroker, clock: FakeClock
) -> None:
    # Given three grants a second apart under a limit of 3 per 10 s
    for _ in range(3):
        assert broker.acquire_rate_limit("k", limit=3, period=10.0) == 0.0
        clock.advance(1.0)
    # When the limit is lowered to 2, then the wait is for the second-oldest grant to leave
    assert broker.acquire_rate_limit("k", limit=2, period=10.0) == 8.0


def test_a_waiter_is_not_fooled_by_another_id_being_stored(
    broker: MemoryBroker, clock: FakeClock
) -> None:
    # Given a caller waiting for one id
    wanted, other = (
        TaskResult(id="wanted", status="SUCCESS"),
        TaskResult(id="other", status="SUCCESS"),
    )
    waiter = BlockedGetResult(broker, "wanted")
    # When another id is stored first (waking every waiter), then the wanted one
    broker.store_result(other)
    broker.store_result(wanted)
    # Then the waiter returns the wanted result, not None
    assert waiter.outcome() == wanted


def test_expired_results_are_dropped_from_memory() -> None:
    # Given a store (used under its lock, as the broker does) holding 100 results expiring at t=10
    lock = threading.Lock()
    store = ResultRecords(lock)
    with lock:
        for i in range(100):
            store.put(TaskResult(id=f"r{i}", status="SUCCESS"), expires_at=10.0, now=0.0)
        # When another result is stored after they expired
        store.put(TaskResult(id="late", status="SUCCESS"), expires_at=30.0, now=20.0)
        # Then only the live one is still held
        assert len(store) == 1
        assert store.get("late", now=20.0) is not None


def test_a_replaced_result_keeps_its_new_expiry() -> None:
    # Given a result replaced by one that lives longer
    lock = threading.Lock()
    store = ResultRecords(lock)
    with lock:
        store.put(TaskResult(id="r", status="SUCCESS", value=1), expires_at=10.0, now=0.0)
        store.put(TaskResult(id="r", status="SUCCESS", value=2), expires_at=30.0, now=5.0)
        # When the first expiry passes and the store sweeps
        store.put(TaskResult(id="x", status="SUCCESS"), expires_at=40.0, now=20.0)
        kept = store.get("r", now=20.0)
    # Then the replacement survived the sweep
    assert kept is not None
    assert kept.value == 2


def test_undecodable_payload_failure_result_lives_the_default_ttl(
    broker: MemoryBroker, clock: FakeClock, queue_name: str
) -> None:
    # Given a corrupt payload buried at reserve
    broker.inject_raw(queue_name, "bad", "{")
    broker.reserve([queue_name], worker_id=WORKER, lease=LEASE)
    # When the default result TTL passes, then its FAILURE result is gone
    assert broker.get_result("bad") is not None
    clock.advance(DEFAULT_RESULT_TTL + 1.0)
    assert broker.get_result("bad") is None

"""Memory-backend internals: URL parsing, registration, blocking and waking, the raw back door.

Shared semantics live in the conformance suite (test_conformance_memory.py); these tests cover
what only this backend has.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from taskq_core.backends import connect
from taskq_core.clock import FakeClock
from taskq_core.errors import ConfigurationError
from taskq_core.schemas import Message
from taskq_core.testing import BlockedReserve
from taskq_memory import MemoryBroker
from taskq_memory import plugin as memory_plugin

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


def test_capabilities_say_single_process() -> None:
    # The CLI refuses a process pool on memory:// because of this flag
    assert MemoryBroker.scheme == "memory"
    assert MemoryBroker.capabilities.cross_process is False


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

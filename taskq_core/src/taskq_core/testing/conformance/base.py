"""What every themed conformance class shares: the fixtures a backend overrides, and small steps.

A backend overrides exactly one fixture, ``make_broker``; ``inject_raw_payload`` is an optional
back door (the test that needs it is skipped, with a reason naming the fixture, when it is
missing). The ``broker`` fixture builds, connects, and afterwards cleans only the queues this test
used, never a whole server.

A themed class that tests a capability names it in ``requires``; on a backend without it, the
``broker`` fixture skips the class's tests with a reason naming the capability, so a backend runs
exactly the classes of the capabilities it declares.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier, Event, Thread
from typing import TYPE_CHECKING, ClassVar, Generic, NoReturn, TypeVar

import pytest

# At run time: the blocked-call helpers name them as base-class type arguments.
from taskq_core.capabilities import WorkerRegistry
from taskq_core.schemas import Delivery, TaskResult

if TYPE_CHECKING:
    from taskq_core.broker import BaseBroker
    from taskq_core.capabilities import Capability, FullBroker, ResultStore
    from taskq_core.clock import Clock, FakeClock

    #: The static type of ``broker`` in a class that ``requires`` capabilities.
    Broker = FullBroker

    #: The type of a themed class's ``requires``.
    Requires = tuple[type[Capability], ...]


T = TypeVar("T")

#: ``make_broker``: a broker on a fresh namespace that reads time from the given clock.
BrokerFactory = Callable[["Clock"], "BaseBroker"]
#: ``inject_raw_payload(broker, queue, id, raw_text)``: put raw text in READY, bypassing ``send``.
RawPayloadInjector = Callable[["BaseBroker", str, str, str], None]

#: The worker most tests reserve as, and a second one for ownership and race tests.
WORKER = "worker-a"
OTHER_WORKER = "worker-b"
#: Lease most tests reserve with, in seconds.
LEASE = 30.0
#: How long teardown moves the clock so every lease has expired and every ETA is due.
_TEARDOWN_ADVANCE = 10.0**7
#: Bound on reaper passes at teardown, so a broken backend fails instead of looping.
_TEARDOWN_RECOVERY_ROUNDS = 100
#: How often, and how far apart in seconds, ``BlockedReserve.poke_until_returned`` pokes.
_POKE_ATTEMPTS = 300
_POKE_PAUSE = 0.1
#: Wall-clock guard for threads in concurrency tests; reached only when a backend hangs.
THREAD_GUARD_TIMEOUT = 60.0


class ConformanceBase:
    """Fixtures every themed class uses. Subclass :class:`BrokerConformance`, not this."""

    #: The capabilities this themed class tests; its tests are skipped on a backend without them.
    requires: ClassVar[Requires] = ()

    @pytest.fixture
    def make_broker(self) -> BrokerFactory:
        """Override: return ``lambda clock: YourBroker(..., clock=clock)`` on a fresh namespace."""
        raise NotImplementedError(
            "override the make_broker fixture: return a callable building your broker from a clock"
        )

    @pytest.fixture
    def inject_raw_payload(self) -> RawPayloadInjector | None:
        """Override (optional): a back door that writes undecodable text into READY."""
        return None

    @pytest.fixture
    def broker(
        self,
        request: pytest.FixtureRequest,
        make_broker: BrokerFactory,
        clock: FakeClock,
        queue_name: str,
        other_queue: str,
        third_queue: str,
    ) -> Iterator[BaseBroker]:
        """The broker under test, connected; afterwards this test's queues are emptied."""
        broker = make_broker(clock)
        for capability in _required_by(type(self), request.function.__name__):
            if not capability.offered_by(broker):
                skip_missing(broker, capability)
        broker.connect()
        try:
            yield broker
        finally:
            try:
                _clean_queues(broker, clock, [queue_name, other_queue, third_queue])
            finally:
                broker.close()

    @pytest.fixture
    def other_queue(self, queue_name: str) -> str:
        """A second queue of this test (cleaned up with the first)."""
        return f"{queue_name}-b"

    @pytest.fixture
    def third_queue(self, queue_name: str) -> str:
        """A third queue of this test (cleaned up with the first)."""
        return f"{queue_name}-c"


def _required_by(cls: type[ConformanceBase], test_name: str) -> tuple[type[Capability], ...]:
    """The ``requires`` of the themed class that defines ``test_name``.

    A combined suite inherits every themed class, so its own ``requires`` says nothing: the
    class in the MRO that defines the test does.
    """
    for klass in cls.__mro__:
        if test_name in vars(klass):
            return getattr(klass, "requires", ())
    return ()


def skip_missing(broker: object, capability: type[Capability]) -> NoReturn:
    """Skip this test, saying which capability the backend does not declare."""
    pytest.skip(f"{type(broker).__name__} does not offer {capability.__name__}")


def _clean_queues(broker: BaseBroker, clock: FakeClock, names: list[str]) -> None:
    """Empty this test's queues through the contract itself, leaving every other key alone.

    PROCESSING cannot be purged, so time jumps far ahead: the reaper hands every lease back (or
    buries it), then purges remove what is left; silent workers are expired the same way.
    """
    clock.advance(_TEARDOWN_ADVANCE)
    for name in dict.fromkeys([*names, *(q for q in broker.queues() if q.startswith(names[0]))]):
        for _ in range(_TEARDOWN_RECOVERY_ROUNDS):
            if not broker.recover_expired(name):
                break
        broker.purge(name)
        broker.purge_dead(name)
        if isinstance(broker, WorkerRegistry):
            broker.expire_dead_workers(name, within=0.0)


def require_injector(injector: RawPayloadInjector | None, untested: str) -> RawPayloadInjector:
    """The ``inject_raw_payload`` back door, or skip the test saying what stays ``untested``."""
    if injector is None:
        pytest.skip(f"backend provides no inject_raw_payload fixture: {untested} is untested")
    return injector


def reserve_one(
    broker: BaseBroker, queue: str, *, worker_id: str = WORKER, lease: float = LEASE
) -> Delivery:
    """Reserve exactly one message from ``queue``, failing the test if there is none."""
    deliveries = broker.reserve([queue], worker_id=worker_id, lease=lease)
    assert len(deliveries) == 1, f"expected one delivery from {queue!r}, got {deliveries!r}"
    return deliveries[0]


def reserved_ids(deliveries: Sequence[Delivery]) -> list[str]:
    """Message ids of ``deliveries``, in order."""
    return [delivery.id for delivery in deliveries]


def lose_lease(broker: BaseBroker, clock: FakeClock, delivery: Delivery) -> None:
    """Let ``delivery``'s lease expire and have the reaper take the message back."""
    clock.set(max(clock.now(), delivery.lease_deadline) + 1.0)
    report = broker.recover_expired(delivery.queue)
    assert delivery.id in report.requeued + report.dead, f"{delivery.id} was not recovered"


def run_concurrently(calls: Sequence[Callable[[], T]]) -> list[T]:
    """Run ``calls`` on one thread each, released together; return their results in order.

    A barrier lines the threads up so they really race; an exception in any thread is raised
    here, so a failing worker thread fails the test instead of warning.
    """
    start = Barrier(len(calls))

    def lined_up(call: Callable[[], T]) -> T:
        start.wait(timeout=THREAD_GUARD_TIMEOUT)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(lined_up, call) for call in calls]
        return [future.result(timeout=THREAD_GUARD_TIMEOUT) for future in futures]


class BlockedCall(Generic[T]):
    """A blocking broker call running on its own thread, to see what wakes it.

    Args:
        call: The call, e.g. a ``reserve`` or ``get_result`` with a long timeout.
        name: Thread name, shown when a test hangs.

    An exception raised by ``call`` is raised again by :meth:`outcome`, so it fails the test.
    """

    def __init__(self, call: Callable[[], T], *, name: str = "blocked-call") -> None:
        self._outcome: tuple[T] | None = None
        self._error: BaseException | None = None
        started = Event()

        def run() -> None:
            started.set()
            try:
                self._outcome = (call(),)
            except BaseException as exc:  # handed to the test thread by outcome()
                self._error = exc

        self._thread = Thread(target=run, name=name, daemon=True)
        self._thread.start()
        assert started.wait(THREAD_GUARD_TIMEOUT), f"the {name} thread did not start"

    def outcome(self, *, within: float = THREAD_GUARD_TIMEOUT / 2) -> T:
        """What the call returned, failing the test if it is still blocked after ``within``."""
        self._thread.join(within)
        assert not self._thread.is_alive(), f"the {self._thread.name} call was not woken"
        if self._error is not None:
            raise self._error
        assert self._outcome is not None
        return self._outcome[0]

    def poke_until_returned(self, poke: Callable[[], object]) -> T:
        """Call ``poke`` (e.g. ``broker.interrupt``) until the call returns; return its result.

        ``interrupt`` only affects calls already blocked, and nothing can tell from outside
        when the thread has blocked, so the poke is repeated until the thread is done.
        """
        for _ in range(_POKE_ATTEMPTS):
            poke()
            self._thread.join(_POKE_PAUSE)
            if not self._thread.is_alive():
                break
        return self.outcome(within=0.0)


class BlockedReserve(BlockedCall[list[Delivery]]):
    """A ``reserve`` with a long timeout running on its own thread, to see what wakes it.

    Args:
        broker: The broker to reserve from.
        queues: Queues to reserve from.
        timeout: The reserve's own timeout; far longer than a woken reserve needs.
    """

    def __init__(self, broker: BaseBroker, queues: Sequence[str], *, timeout: float = 60.0) -> None:
        super().__init__(
            lambda: broker.reserve(
                queues, worker_id="blocked-reserver", lease=LEASE, timeout=timeout
            ),
            name="blocked-reserve",
        )


class BlockedGetResult(BlockedCall[TaskResult | None]):
    """A ``get_result`` with a long timeout running on its own thread, to see what wakes it.

    Args:
        broker: The broker to wait on.
        message_id: Whose result to wait for.
        timeout: The call's own timeout (``None``: no limit); far longer than a woken waiter
            needs.
    """

    def __init__(
        self, broker: ResultStore, message_id: str, *, timeout: float | None = 60.0
    ) -> None:
        super().__init__(
            lambda: broker.get_result(message_id, timeout=timeout), name="blocked-get-result"
        )

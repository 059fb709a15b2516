"""The broker conformance suite: every promise of :class:`~taskq_core.broker.BaseBroker` as tests.

One themed class per part of the state machine or per capability; :class:`CoreConformance`
combines those of the core contract, :class:`BrokerConformance` all of them. A class that tests a
capability (``requires``) is skipped, with the capability named, on a backend without it. A
backend runs the whole suite by subclassing it and overriding one fixture::

    class TestMyBroker(BrokerConformance):
        @pytest.fixture
        def make_broker(self) -> BrokerFactory:
            return lambda clock: MyBroker(namespace=f"t-{uuid4().hex}", clock=clock)

Optionally override ``inject_raw_payload`` (a back door that writes raw text into READY) so the
undecodable-payload test runs instead of being skipped.
"""

from __future__ import annotations

from taskq_core.testing.conformance.ack_many import AckManyTests
from taskq_core.testing.conformance.async_producer import AsyncProducerTests
from taskq_core.testing.conformance.base import (
    BlockedCall,
    BlockedGetResult,
    BlockedReserve,
    BrokerFactory,
    ConformanceBase,
    RawPayloadInjector,
)
from taskq_core.testing.conformance.blocking import BlockingTests
from taskq_core.testing.conformance.capacity import QueueLimitTests
from taskq_core.testing.conformance.chord_index import ChordIndexTests
from taskq_core.testing.conformance.concurrency import ConcurrencyTests
from taskq_core.testing.conformance.control import ExpiryTests, RevokeTests
from taskq_core.testing.conformance.dead import DeadTests
from taskq_core.testing.conformance.fencing import AckAndFencingTests
from taskq_core.testing.conformance.history import HistoryTests, MessageInfoTests
from taskq_core.testing.conformance.leases import LeaseTests
from taskq_core.testing.conformance.monitoring import MonitoringTests
from taskq_core.testing.conformance.pause import PauseTests
from taskq_core.testing.conformance.periodic import PeriodicTests
from taskq_core.testing.conformance.postpone import PostponeTests
from taskq_core.testing.conformance.ratelimit import RateLimitTests
from taskq_core.testing.conformance.ready import ReadyTests
from taskq_core.testing.conformance.reaper import ReaperTests
from taskq_core.testing.conformance.release import ReleaseTests
from taskq_core.testing.conformance.results import ResultTests
from taskq_core.testing.conformance.retry import RetryTests
from taskq_core.testing.conformance.reuse import ReusedIdTests
from taskq_core.testing.conformance.scheduled import ScheduleTests
from taskq_core.testing.conformance.unique import UniqueKeyTests
from taskq_core.testing.conformance.workers import WorkerTests
from taskq_core.testing.conformance.workflows import TaskStateTests, WorkflowTests


class CoreConformance(
    ReadyTests,
    BlockingTests,
    LeaseTests,
    AckAndFencingTests,
    AckManyTests,
    ScheduleTests,
    RetryTests,
    DeadTests,
    ReleaseTests,
    PostponeTests,
    ExpiryTests,
    MonitoringTests,
    ConcurrencyTests,
):
    """The tests of the core contract alone: what every backend must pass."""


class BrokerConformance(
    CoreConformance,
    ReusedIdTests,
    ResultTests,
    TaskStateTests,
    RateLimitTests,
    WorkerTests,
    ReaperTests,
    RevokeTests,
    QueueLimitTests,
    PauseTests,
    HistoryTests,
    MessageInfoTests,
    UniqueKeyTests,
    PeriodicTests,
    WorkflowTests,
    ChordIndexTests,
    AsyncProducerTests,
):
    """Every conformance test, each capability's skipped on a backend without it.

    Subclass it and override the ``make_broker`` fixture.
    """


__all__ = [
    "AckAndFencingTests",
    "AckManyTests",
    "AsyncProducerTests",
    "BlockedCall",
    "BlockedGetResult",
    "BlockedReserve",
    "BlockingTests",
    "BrokerConformance",
    "BrokerFactory",
    "ChordIndexTests",
    "ConcurrencyTests",
    "ConformanceBase",
    "CoreConformance",
    "DeadTests",
    "ExpiryTests",
    "HistoryTests",
    "LeaseTests",
    "MessageInfoTests",
    "MonitoringTests",
    "PauseTests",
    "PeriodicTests",
    "PostponeTests",
    "QueueLimitTests",
    "RateLimitTests",
    "RawPayloadInjector",
    "ReadyTests",
    "ReaperTests",
    "ReleaseTests",
    "ResultTests",
    "RetryTests",
    "ReusedIdTests",
    "RevokeTests",
    "ScheduleTests",
    "TaskStateTests",
    "UniqueKeyTests",
    "WorkerTests",
    "WorkflowTests",
]

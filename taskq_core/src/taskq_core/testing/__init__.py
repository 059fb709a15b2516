"""taskq's shipped test kit (needs ``taskq-core[testing]``): the broker conformance suite.

Assertion rewriting is registered before the suite is imported, so a failing conformance test
shows pytest's detailed assert message in a third party's run too (pytest rewrites test modules
and plugins, not the helper modules they import).

Use it from a backend's tests::

    # conftest.py
    pytest_plugins = ["taskq_core.testing.plugin"]

    # test_my_broker.py
    from taskq_core.testing import BrokerConformance

    class TestMyBroker(BrokerConformance):
        @pytest.fixture
        def make_broker(self):
            return lambda clock: MyBroker(namespace=f"t-{uuid4().hex}", clock=clock)
"""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("taskq_core.testing.conformance")

from taskq_core.testing.conformance import (  # noqa: E402 - must follow the rewrite registration
    AckAndFencingTests,
    BlockedCall,
    BlockedGetResult,
    BlockedReserve,
    BlockingTests,
    BrokerConformance,
    BrokerFactory,
    ConcurrencyTests,
    ConformanceBase,
    DeadTests,
    LeaseTests,
    MonitoringTests,
    PostponeTests,
    QueueLimitTests,
    RateLimitTests,
    RawPayloadInjector,
    ReadyTests,
    ReleaseTests,
    ResultTests,
    RetryTests,
    ScheduleTests,
    WorkerTests,
)
from taskq_core.testing.plugin import MessageFactory  # noqa: E402

__all__ = [
    "AckAndFencingTests",
    "BlockedCall",
    "BlockedGetResult",
    "BlockedReserve",
    "BlockingTests",
    "BrokerConformance",
    "BrokerFactory",
    "ConcurrencyTests",
    "ConformanceBase",
    "DeadTests",
    "LeaseTests",
    "MessageFactory",
    "MonitoringTests",
    "PostponeTests",
    "QueueLimitTests",
    "RateLimitTests",
    "RawPayloadInjector",
    "ReadyTests",
    "ReleaseTests",
    "ResultTests",
    "RetryTests",
    "ScheduleTests",
    "WorkerTests",
]

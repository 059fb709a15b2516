"""The conformance suite against the in-process backend."""

from __future__ import annotations

import pytest

from taskq_core.broker import BaseBroker
from taskq_core.testing import BrokerConformance, BrokerFactory, RawPayloadInjector
from taskq_memory import MemoryBroker


def _inject(broker: BaseBroker, queue: str, message_id: str, raw: str) -> None:
    assert isinstance(broker, MemoryBroker)
    assert broker.inject_raw(queue, message_id, raw)


class TestMemoryBroker(BrokerConformance):
    @pytest.fixture
    def make_broker(self) -> BrokerFactory:
        return lambda clock: MemoryBroker(clock=clock)

    @pytest.fixture
    def inject_raw_payload(self) -> RawPayloadInjector:
        return _inject

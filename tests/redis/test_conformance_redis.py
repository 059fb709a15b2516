"""The shipped conformance suite against fakeredis and against a real redis-server."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import fakeredis
import pytest
import redis

from taskq_core.clock import Clock
from taskq_core.testing import BrokerConformance, BrokerFactory, RawPayloadInjector
from taskq_redis import RedisBroker

from .conftest import fake_broker_on


class TestFakeRedisBroker(BrokerConformance):
    @pytest.fixture
    def make_broker(self, fake_server: fakeredis.FakeServer) -> BrokerFactory:
        def build(clock: Clock) -> RedisBroker:
            return fake_broker_on(fake_server, f"tq-{uuid.uuid4().hex[:8]}", clock)

        return build

    @pytest.fixture
    def inject_raw_payload(self, raw_payload_writer: RawPayloadInjector) -> RawPayloadInjector:
        return raw_payload_writer


@pytest.mark.redis
class TestRealRedisBroker(BrokerConformance):
    @pytest.fixture
    def make_broker(
        self, redis_url: str, prefix_deleter: Callable[[redis.Redis, str], None]
    ) -> Iterator[BrokerFactory]:
        prefixes: list[str] = []

        def build(clock: Clock) -> RedisBroker:
            prefixes.append(f"tq-test-{uuid.uuid4().hex[:12]}")
            return RedisBroker.from_url(redis_url, prefix=prefixes[-1], clock=clock)

        yield build
        client = redis.Redis.from_url(redis_url)
        for prefix in prefixes:
            prefix_deleter(client, prefix)
        client.close()

    @pytest.fixture
    def inject_raw_payload(self, raw_payload_writer: RawPayloadInjector) -> RawPayloadInjector:
        return raw_payload_writer

"""Cluster and Sentinel URLs: parsing, TLS, errors in one line, passwords never shown."""

from __future__ import annotations

import asyncio

import pytest
import redis
from redis.sentinel import SentinelConnectionPool

from taskq_core import MissingCapability
from taskq_core.capabilities import Workflows
from taskq_core.errors import BrokerUnavailable, ConfigurationError
from taskq_core.schemas import Message
from taskq_core.urls import redact_url
from taskq_redis import RedisBroker
from taskq_redis.connection import client_from_url
from taskq_redis.servers import CLUSTER_SCHEMES, ServerList, connection_options

OPTIONS = frozenset({"prefix", "password", "username", "socket_timeout", "sentinel_password"})


def test_a_cluster_url_names_seed_nodes_credentials_and_prefix() -> None:
    servers = ServerList(
        "redis+cluster://app:p%40ss@10.0.0.1:7000,[::1]:7001/?prefix=shop", OPTIONS
    )
    assert servers.hosts == [("10.0.0.1", 7000), ("::1", 7001)]
    assert (servers.username, servers.password) == ("app", "p@ss")
    assert servers.options == {"prefix": "shop"}
    assert not servers.tls


def test_rediss_cluster_turns_tls_on_and_checks_hostnames() -> None:
    servers = ServerList("rediss+cluster://h:7000/", OPTIONS)
    options = connection_options(servers, {"socket_timeout": 10.0})
    assert options["ssl"] is True
    assert options["ssl_check_hostname"] is True


def test_a_sentinel_url_builds_a_client_that_asks_the_sentinels_for_the_primary() -> None:
    url = "redis+sentinel://:s3cret@127.0.0.1:26379,127.0.0.1:26380/orders/2?prefix=shop"
    client, prefix = client_from_url(url)  # nothing is contacted yet
    assert prefix == "shop"
    assert type(client) is redis.Redis
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "orders"
    assert pool.connection_kwargs["db"] == 2
    assert pool.connection_kwargs["password"] == "s3cret"
    assert [
        tuple(s.connection_pool.connection_kwargs[k] for k in ("host", "port"))
        for s in pool.sentinel_manager.sentinels
    ] == [("127.0.0.1", 26379), ("127.0.0.1", 26380)]
    client.close()


def test_a_sentinel_broker_says_where_it_connects_without_the_password() -> None:
    broker = RedisBroker.from_url("redis+sentinel://:s3cret@127.0.0.1:1/orders/0")
    assert "s3cret" not in repr(broker)
    with pytest.raises(BrokerUnavailable) as caught:
        broker.connect()
    assert "orders" in str(caught.value)
    assert "s3cret" not in str(caught.value)
    assert "\n" not in str(caught.value)
    broker.close()


def test_no_primary_from_the_sentinels_is_one_short_line_without_client_reprs() -> None:
    # redis-py appends the repr of every Sentinel client it asked (pools, retry objects...).
    broker = RedisBroker.from_url("redis+sentinel://:s3cret@127.0.0.1:1/orders/0")
    with pytest.raises(BrokerUnavailable) as caught:
        broker.connect()
    message = str(caught.value)
    assert "No master found for 'orders'" in message
    assert "<redis." not in message
    assert "s3cret" not in message
    assert len(message) < 200
    broker.close()


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("redis+cluster://h/", "not host:port"),
        ("redis+cluster://h:7000/3", "only database 0"),
        ("redis+cluster://h:7000/?nosuch=1", "unknown option 'nosuch'"),
        ("redis+sentinel://h:26379/", "service_name"),
        ("redis+sentinel://h:26379/svc/x", "database must be a number"),
        ("redis+sentinel://:pw@h:26379/svc/0?socket_timeout=soon", "socket_timeout must be"),
    ],
)
def test_a_bad_multi_server_url_is_one_configuration_error_line(url: str, why: str) -> None:
    with pytest.raises(ConfigurationError, match=why) as caught:
        RedisBroker.from_url(url)
    assert "\n" not in str(caught.value)
    assert ":pw@" not in str(caught.value)


def test_a_cluster_broker_is_built_while_the_cluster_is_down_and_connect_says_so() -> None:
    # (a worker started before its cluster waits for it, as for one server)
    broker = RedisBroker.from_url("redis+cluster://:s3cret@127.0.0.1:1/")
    with pytest.raises(BrokerUnavailable) as caught:
        broker.connect()
    assert "127.0.0.1:1" in str(caught.value)
    assert "s3cret" not in str(caught.value)
    assert "\n" not in str(caught.value)
    broker.close()


def test_an_asyncio_send_to_a_cluster_that_is_down_names_its_nodes() -> None:
    broker = RedisBroker.from_url("redis+cluster://:s3cret@127.0.0.1:1,127.0.0.1:2/")
    with pytest.raises(BrokerUnavailable) as caught:
        asyncio.run(broker.async_producer().asend(Message(task="t")))
    assert "Redis Cluster at 127.0.0.1:1,127.0.0.1:2" in str(caught.value)
    assert "s3cret" not in str(caught.value)
    assert "\n" not in str(caught.value)
    broker.close()


@pytest.mark.parametrize("scheme", [*CLUSTER_SCHEMES, "redis+sentinel", "rediss+sentinel"])
def test_redaction_hides_the_secrets_of_every_multi_server_scheme(scheme: str) -> None:
    url = f"{scheme}://user:s3cret@h1:1,h2:2/svc/0?sentinel_password=t0ps3cret&password=x"
    shown = redact_url(url)
    assert "s3cret" not in shown
    assert "t0ps3cret" not in shown
    assert shown.startswith(f"{scheme}://***@h1:1,h2:2/")


def test_a_workflow_on_a_cluster_says_why_in_one_line() -> None:
    # Given a cluster broker (built without contacting a node)
    broker = RedisBroker.from_url("redis+cluster://127.0.0.1:7000/")

    # When a chord asks for workflows, then the one line names Redis Cluster as the reason
    with pytest.raises(MissingCapability) as caught:
        Workflows.require(broker, "a chord")
    assert "withholds it on a Redis Cluster" in str(caught.value)
    assert "\n" not in str(caught.value)

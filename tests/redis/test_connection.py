"""URLs, the plugin entry point, connection robustness and the checks ``connect()`` runs."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import redis
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.connection import SSLConnection, UnixDomainSocketConnection
from redis.exceptions import BusyLoadingError
from redis.retry import Retry

from taskq_core import Taskq
from taskq_core.backends import connect as connect_url
from taskq_core.errors import BrokerUnavailable, ConfigurationError
from taskq_redis import RedisBroker
from taskq_redis.connection import MAX_BLOCK_SECONDS

from ..support.redis_server import locked_redis, redis_server_binary
from ..support.waiting import wait_until


def settings(broker: RedisBroker) -> dict[str, Any]:
    return dict(broker.client.connection_pool.connection_kwargs)


def test_url_gives_host_port_database_user_password_and_prefix() -> None:
    broker = RedisBroker.from_url("redis://alice:s%40cret@redis.example:6380/3?prefix=myapp")
    kwargs = settings(broker)
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("redis.example", 6380, 3)
    assert (kwargs["username"], kwargs["password"]) == ("alice", "s@cret")
    assert broker.prefix == "myapp"


def test_prefix_keyword_wins_over_the_url_and_defaults_to_taskq() -> None:
    assert RedisBroker.from_url("redis://h/0?prefix=a", prefix="b").prefix == "b"
    assert RedisBroker.from_url("redis://h/0").prefix == "taskq"


def test_rediss_turns_tls_on() -> None:
    broker = RedisBroker.from_url("rediss://h:6380/0?ssl_cert_reqs=none")
    assert broker.client.connection_pool.connection_class is SSLConnection


def test_unix_socket_url_with_database() -> None:
    broker = RedisBroker.from_url("unix:///run/redis/redis.sock?db=2&prefix=p")
    assert broker.client.connection_pool.connection_class is UnixDomainSocketConnection
    kwargs = settings(broker)
    assert (kwargs["path"], kwargs["db"], broker.prefix) == ("/run/redis/redis.sock", 2, "p")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("redis://h:port/0", "no valid host and port"),
        ("redis://h/zero", "database must be a number"),
        ("redis://h/0?sockettimeout=3", "unknown option 'sockettimeout'"),
        ("redis://h/0?prefix={x}", "prefix"),
        ("unix://", "needs a socket path"),
        ("redis:///0", "no host"),
        ("memcached://h", "scheme must be"),
    ],
)
def test_a_bad_url_is_one_configuration_error_line(url: str, why: str) -> None:
    with pytest.raises(ConfigurationError, match=why) as failure:
        RedisBroker.from_url(url)
    assert "\n" not in str(failure.value)


def test_a_bad_url_error_hides_the_password() -> None:
    with pytest.raises(ConfigurationError) as failure:
        RedisBroker.from_url("redis://u:hunter2@h/zero")
    assert "hunter2" not in str(failure.value)


@pytest.mark.parametrize(
    "url",
    [
        "redis://u:hun#ter2@h/0",
        "redis://u:hun/ter2@h/0",
        "redis://u:hun?ter2@h/0",
        "redis://u:12/hunter2@h/0",
        "redis://u:hunter2@h:port/0",
        "redis://h/0?password=hunter2&colour=blue",
        "redis://u:hunter2@h/zero",
    ],
)
def test_a_malformed_url_error_hides_every_piece_of_the_password(url: str) -> None:
    # Given a URL whose password holds a delimiter, or that has another mistake
    # When a broker is built from it
    with pytest.raises(ConfigurationError) as failure:
        RedisBroker.from_url(url)

    # Then the one-line error shows no piece of the password
    message = str(failure.value)
    assert "\n" not in message
    for piece in ("hunter2", "ter2", "hun"):
        assert piece not in message, message


def test_a_delimiter_in_the_password_gets_a_percent_encoding_hint() -> None:
    with pytest.raises(ConfigurationError, match="percent-encode"):
        RedisBroker.from_url("redis://u:hun#ter2@h/0")


def test_user_and_password_may_be_query_options() -> None:
    # Given a password with delimiters, percent-encoded in a query option
    broker = RedisBroker.from_url("redis://h/0?username=alice&password=hun%23ter2")

    # Then redis-py gets it decoded
    kwargs = settings(broker)
    assert (kwargs["username"], kwargs["password"]) == ("alice", "hun#ter2")


def test_rediss_checks_the_server_hostname() -> None:
    # Given a TLS URL that verifies certificates (the default)
    broker = RedisBroker.from_url("rediss://h:6380/0")

    # Then the client asks for the hostname check, whatever redis-py's own default is
    assert settings(broker)["ssl_check_hostname"] is True
    assert broker.client.connection_pool.make_connection().check_hostname is True


def test_rediss_without_certificate_checks_leaves_the_hostname_alone() -> None:
    # A hostname check needs a verified certificate; ssl refuses the combination otherwise
    broker = RedisBroker.from_url("rediss://h:6380/0?ssl_cert_reqs=none")
    assert broker.client.connection_pool.make_connection().check_hostname is False


def test_unknown_broker_options_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="unknown RedisBroker option 'colour'"):
        RedisBroker.from_url("redis://h/0", colour="blue")


def test_clients_from_urls_retry_with_jittered_backoff_and_outlast_a_block() -> None:
    kwargs = settings(RedisBroker.from_url("redis://h/0"))
    retry = kwargs["retry"]
    assert isinstance(retry._backoff, ExponentialWithJitterBackoff)
    assert retry._retries > 0
    assert BusyLoadingError in retry._supported_errors
    assert redis.TimeoutError in retry._supported_errors
    assert kwargs["socket_timeout"] > MAX_BLOCK_SECONDS


def test_a_short_socket_timeout_shortens_the_blocking_chunk() -> None:
    broker = RedisBroker.from_url("redis://h/0?socket_timeout=3")
    assert broker._waiter.max_block < 3


def test_unreachable_redis_is_one_broker_unavailable_line(unused_port: int) -> None:
    port = unused_port
    broker = RedisBroker.from_url(f"redis://127.0.0.1:{port}/0")
    with pytest.raises(BrokerUnavailable) as failure:
        broker.connect()
    message = str(failure.value)
    assert message.startswith(f"cannot reach Redis at 127.0.0.1:{port}: ")
    assert "\n" not in message


def test_connect_refuses_redis_older_than_6_2(
    fake_client: fakeredis.FakeRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fake_client, "info", lambda *_: {"redis_version": "6.0.16"})
    with pytest.raises(ConfigurationError, match=r"version 6\.0\.16; taskq needs 6\.2"):
        RedisBroker(fake_client).connect()


def test_connect_warns_when_redis_may_evict_queue_keys(
    fake_client: fakeredis.FakeRedis,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(fake_client, "info", lambda *_: {"redis_version": "7.2.4"})
    monkeypatch.setattr(fake_client, "config_get", lambda *_: {"maxmemory-policy": "allkeys-lru"})
    with caplog.at_level(logging.WARNING, logger="taskq.redis"):
        RedisBroker(fake_client).connect()
    assert "maxmemory-policy allkeys-lru" in caplog.text


@pytest.mark.redis
def test_connect_passes_on_a_real_server(redis_url: str) -> None:
    with RedisBroker.from_url(redis_url) as broker:
        assert broker.now() > 1_600_000_000


@pytest.mark.parametrize("scheme", ["redis", "rediss", "unix"])
def test_the_plugin_serves_every_redis_scheme(scheme: str) -> None:
    url = {"unix": "unix:///tmp/r.sock"}.get(scheme, f"{scheme}://h/0")
    assert isinstance(connect_url(url), RedisBroker)


def test_loading_the_plugin_does_not_import_redis() -> None:
    code = "import sys, taskq_redis.plugin; print('redis' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def test_a_connection_lost_past_the_retries_is_one_broker_unavailable_line(
    unused_port: int,
) -> None:
    # Given a broker whose server has gone (and a client that does not wait to retry)
    client = redis.Redis(port=unused_port, retry=Retry(NoBackoff(), 0))
    broker = RedisBroker(client, prefix="gone")
    # When any operation runs, then it fails with one line naming the server
    with pytest.raises(BrokerUnavailable, match=rf"^lost Redis at localhost:{unused_port}: "):
        broker.counts("jobs")
    with pytest.raises(BrokerUnavailable):
        broker.reserve(["jobs"], worker_id="w", lease=1.0, timeout=1.0)


@pytest.mark.redis
def test_a_unix_socket_url_reaches_a_real_server(tmp_path: Path) -> None:
    # Given a redis-server listening on a unix socket only
    socket_path = tmp_path / "redis.sock"
    argv = [redis_server_binary(), "--port", "0", "--unixsocket", str(socket_path)]
    argv += ["--save", "", "--appendonly", "no", "--dir", str(tmp_path)]
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    try:
        wait_until(socket_path.exists, what="the server listens on its socket")
        # When a broker built from its unix:// URL sends a message
        broker = RedisBroker.from_url(f"unix://{socket_path}?db=0&prefix=unix-test")
        broker.connect()
        app = Taskq(broker)

        @app.task(name="unix.echo")
        def echo(x: int) -> int:
            return x

        echo.delay(1)
        # Then the message is on that server
        assert broker.counts("default").ready == 1
        broker.close()
    finally:
        server.terminate()
        server.wait(10)


@pytest.mark.redis
def test_wrong_credentials_fail_at_once_as_a_configuration_error(tmp_path: Path) -> None:
    # Given a redis-server that requires a password
    with locked_redis(tmp_path, "right") as socket_path:
        # When a broker connects with the wrong one
        broker = RedisBroker.from_url(f"unix://:wrong@{socket_path}?db=0")
        with pytest.raises(ConfigurationError) as refused:
            broker.connect()
        # Then it is the user's mistake in one line, not a wait for an unavailable server,
        # and the password is not in it
        message = str(refused.value)
        assert "refused the URL's credentials" in message
        assert "\n" not in message
        assert "wrong@" not in message

"""The command runner and its direct transport, without a server.

A scripted connection stands in for Redis: it keeps the script cache, answers ``NOSCRIPT`` for
scripts it does not have, counts writes, and can drop the link in the middle of a reply. What is
checked is what the runner promises (``taskq_redis/runner.py``): one NOSCRIPT recovery that sends
exactly the calls that met it again, one retry policy that re-sends a batch on a fresh link, error
replies that leave the connection in step, and a connection never shared or reused half-read.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, ResponseError
from redis.retry import Retry

from taskq_redis.direct import DirectCommands
from taskq_redis.runner import Runner


class Server:
    """The state a scripted Redis keeps: loaded scripts, a counter, what it ran."""

    def __init__(self) -> None:
        self.loaded: set[str] = set()
        self.counter = 0
        self.ran: list[tuple[Any, ...]] = []
        #: Replies after which the link drops (once each), counted over every connection.
        self.drop_after: int | None = None
        self.replies = 0

    def answer(self, args: tuple[Any, ...]) -> Any:
        self.ran.append(args)
        name = str(args[0]).upper()
        if name == "EVALSHA":
            if args[1] not in self.loaded:
                return NoScriptError("NOSCRIPT No matching script.")
            self.counter += 1
            return self.counter
        if name == "FAIL":
            return ResponseError("ERR failed on purpose")
        if name == "PING":
            return b"PONG"
        return None


class ScriptedConnection:
    """A connection to :class:`Server`: replies are computed when a command is written."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.pending: list[Any] = []
        self.writes = 0
        self.disconnects = 0
        self.retry = Retry(NoBackoff(), 2, supported_errors=(redis.ConnectionError,))

    def pack_commands(self, commands: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        return list(commands)

    def send_packed_command(self, commands: list[tuple[Any, ...]]) -> None:
        self.writes += 1
        self.pending += [self.server.answer(args) for args in commands]

    def send_command(self, *args: Any) -> None:
        self.send_packed_command([args])

    def read_response(self) -> Any:
        server = self.server
        if server.drop_after is not None and server.replies == server.drop_after:
            server.drop_after = None
            raise redis.ConnectionError("link dropped")
        server.replies += 1
        reply = self.pending.pop(0)
        if isinstance(reply, ResponseError):
            raise reply
        return reply

    def disconnect(self) -> None:
        self.disconnects += 1
        self.pending = []


class Pool:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.made: list[ScriptedConnection] = []
        self.released: list[ScriptedConnection] = []

    def get_connection(self) -> ScriptedConnection:
        conn = ScriptedConnection(self.server)
        self.made.append(conn)
        return conn

    def release(self, conn: ScriptedConnection) -> None:
        self.released.append(conn)


class Client:
    """What the runner needs of a client besides the transport: replies and SCRIPT LOAD."""

    def __init__(self, server: Server) -> None:
        self.server = server

    def parse_response(self, conn: ScriptedConnection, name: str, **options: Any) -> Any:
        return conn.read_response()

    def script_load(self, body: str) -> str:
        from hashlib import sha1

        sha = sha1(body.encode(), usedforsecurity=False).hexdigest()
        self.server.loaded.add(sha)
        return sha


@pytest.fixture
def server() -> Server:
    return Server()


@pytest.fixture
def pool(server: Server) -> Pool:
    return Pool(server)


@pytest.fixture
def runner(server: Server, pool: Pool) -> Runner:
    client = Client(server)
    return Runner(client, direct=DirectCommands(client, pool=pool))


def evalshas(server: Server) -> list[str]:
    return [str(args[3]) for args in server.ran if args[0] == "EVALSHA"]


def test_a_single_call_that_meets_noscript_loads_its_script_and_runs_once(
    runner: Runner, server: Server
) -> None:
    assert runner.fast
    reply = runner.call("promote", ["k1"], [1])
    assert reply == 1
    assert server.counter == 1  # ran once
    assert runner.scripts.sha("promote") in server.loaded
    assert evalshas(server) == ["k1", "k1"]  # refused, then run


def test_a_batch_sends_again_exactly_the_calls_that_met_noscript_in_their_order(
    runner: Runner, server: Server, pool: Pool
) -> None:
    server.loaded.add(runner.scripts.sha("ack"))
    batch = [
        runner.script("store_result", ["r1"], []),
        runner.script("ack", ["a1"], []),
        ("PING",),
        runner.script("reserve", ["q1"], []),
    ]
    replies = runner.batch(batch)
    # ack ran in the first write; store_result and reserve again, in order, after the load
    assert replies == [2, 1, b"PONG", 3]
    assert evalshas(server) == ["r1", "a1", "q1", "r1", "q1"]
    assert [conn.writes for conn in pool.made] == [2]  # one write each time, one connection


def test_a_batch_raises_the_first_error_reply_once_every_reply_is_read(
    runner: Runner, server: Server, pool: Pool
) -> None:
    server.loaded.add(runner.scripts.sha("ack"))
    with pytest.raises(ResponseError, match="failed on purpose"):
        runner.batch([("FAIL",), runner.script("ack", ["a1"], []), ("FAIL",)])
    assert server.counter == 1  # the script behind the error ran
    # The connection is in step: it was given back clean and answers the next command itself
    assert pool.made[0].disconnects == 0
    assert runner.run(("PING",)) == b"PONG"
    assert len(pool.made) == 1


def test_a_batch_without_raising_returns_error_replies_in_place(
    runner: Runner, server: Server
) -> None:
    replies = runner.batch([("PING",), ("FAIL",)], raise_on_error=False)
    assert replies[0] == b"PONG"
    assert isinstance(replies[1], ResponseError)


def test_a_link_dropped_mid_batch_resends_the_batch_on_a_fresh_link(
    runner: Runner, server: Server, pool: Pool
) -> None:
    # Given a link that drops after the first reply of a batch
    server.loaded.add(runner.scripts.sha("ack"))
    server.drop_after = 1
    # When a batch of three runs
    replies = runner.batch([runner.script("ack", [f"a{n}"], []) for n in range(3)])
    # Then the retry policy re-sent it whole once the connection was dropped (a batch holds
    # only commands that may run twice), and the replies are the second run's
    assert replies == [4, 5, 6]
    assert evalshas(server) == ["a0", "a1", "a2", "a0", "a1", "a2"]
    assert pool.made[0].disconnects == 1


def test_a_streamed_batch_sends_each_command_as_it_is_built(
    runner: Runner, server: Server, pool: Pool
) -> None:
    server.loaded.add(runner.scripts.sha("send"))
    seen_before_next: list[int] = []

    def built() -> Any:
        for n in range(3):
            seen_before_next.append(len(server.ran))
            yield runner.script("send", [f"s{n}"], [])

    assert runner.batch(built()) == [1, 2, 3]
    assert seen_before_next == [0, 1, 2]  # each command written before the next was built
    assert pool.made[0].writes == 3


def test_block_then_shares_one_write_and_returns_both_replies(
    runner: Runner, server: Server, pool: Pool
) -> None:
    server.loaded.add(runner.scripts.sha("reserve"))
    popped, reply = runner.block_then(
        ("BZPOPMIN", "m1", "1.0"), runner.script("reserve", ["q1"], [])
    )
    assert popped is None
    assert reply == 1
    assert [conn.writes for conn in pool.made] == [1]


def test_a_connection_that_failed_is_disconnected_before_reuse(
    runner: Runner, server: Server, pool: Pool
) -> None:
    # Every try fails: the error surfaces, and the connection is given back disconnected
    original = ScriptedConnection.read_response

    def always_drop(self: ScriptedConnection) -> Any:
        raise redis.ConnectionError("down")

    ScriptedConnection.read_response = always_drop  # type: ignore[method-assign]
    try:
        with pytest.raises(redis.ConnectionError):
            runner.run(("PING",))
    finally:
        ScriptedConnection.read_response = original  # type: ignore[method-assign]
    (conn,) = pool.made
    assert conn.disconnects == 4  # after each of the three tries, and once more when given back
    assert runner.run(("PING",)) == b"PONG"


def test_a_forked_child_forgets_the_parents_connections(
    runner: Runner, pool: Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner.run(("PING",))
    assert len(pool.made) == 1
    monkeypatch.setattr(os, "getpid", lambda: -1)  # as seen from a child
    runner.run(("PING",))
    assert len(pool.made) == 2  # a fresh connection, never the parent's socket
    assert pool.made[0].disconnects == 0  # and the parent's was not touched


def test_without_the_fast_path_the_same_commands_go_through_redis_py(
    fake_client: redis.Redis,
) -> None:
    runner = Runner(fake_client)
    assert not runner.fast  # fakeredis is not a plain redis.Redis
    fake_client.script_flush()
    keys = ["{q}:scheduled", "{q}:state", "{q}:marker", *(f"{{q}}:ready:{p}" for p in range(10))]
    assert runner.batch([runner.script("promote", keys, ["", 5]), ("PING",)])[0] == 0

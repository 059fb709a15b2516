"""Single commands on connections kept aside from the pool: the hot path of one script call.

redis-py's ``Redis.execute_command`` borrows a connection from its pool for every command and
returns it afterwards; the borrow takes the pool's lock, polls the socket for stray data (one
``select`` system call), and both steps record observability counters. Measured here (redis-py
8.1, hiredis, loopback) that is about 25 µs of client CPU per command, as much as everything
else a ``delay()`` does in taskq. :class:`DirectCommands` keeps a few connections it borrowed
once and runs each command on one of them with the same connection-level code and the same
retry policy (``connection.retry``: the client's, with backoff):

* A connection is only ever used by one thread at a time (taken from a list, given back after
  its reply was read), as in the pool.
* Any failure other than an error reply (``ResponseError``: a complete reply, the connection
  is clean) disconnects the connection before it is reused, so a half-read reply can never be
  mistaken for the next command's. redis-py's own reads disconnect on timeouts too.
* After a fork, the child drops the parent's connections without touching their sockets.
* At most ``keep`` idle connections are kept aside; they count as in use for the pool's
  ``max_connections``. ``client.close()`` (the pool's ``disconnect``) closes them too.

Clients this cannot serve the same way (a single-connection client, client-side caching, a
client that is not a ``redis.Redis``, such as a cluster client) run commands through
``execute_command`` as usual.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Iterable, Sequence
from typing import Any

import redis
from redis.exceptions import ResponseError

#: A redis-py connection (its methods are untyped; kept as ``Any`` here).
Connection = Any

#: Idle connections kept aside per broker; a worker uses about three at once (consumer,
#: acker, heartbeat), a threaded producer one per concurrent sender.
KEEP_CONNECTIONS = 8


class DirectCommands:
    """Runs one command at a time per connection, skipping the pool's per-command work.

    Args:
        client: The client whose pool lends the connections; it also reads the replies of
            commands other than scripts (``parse_response``, its reply callbacks).
        keep: Most idle connections kept aside.
        pool: The pool to borrow from instead of the client's (any object with
            ``get_connection()`` and ``release()``; the unit tests' doubles); it enables the
            transport whatever the client is.
    """

    def __init__(self, client: Any, keep: int = KEEP_CONNECTIONS, *, pool: Any = None) -> None:
        self._client = client
        self._keep = keep
        self._idle: list[Connection] = []
        self._pid = os.getpid()
        #: Whether :meth:`packed` may write the caller's RESP: the pool's connections encode
        #: text as UTF-8, as the caller did (the doubles of the unit tests take no RESP).
        self.writes_resp = False
        if pool is not None:
            self._pool = pool
            self.enabled = True
            return
        pool = getattr(client, "connection_pool", None) if type(client) is redis.Redis else None
        self._pool = pool
        self.enabled = (
            type(client) is redis.Redis
            and isinstance(pool, redis.ConnectionPool)
            and not isinstance(pool, redis.BlockingConnectionPool)
            and client.connection is None
            and getattr(pool, "cache", None) is None
        )
        if self.enabled:
            options = pool.connection_kwargs
            self.writes_resp = (
                codecs.lookup(options.get("encoding", "utf-8")).name == "utf-8"
                and options.get("encoding_errors", "strict") == "strict"
            )

    def __call__(self, *args: Any) -> Any:
        """Send one command and read its reply (raises what redis-py raises)."""
        if not self.enabled:
            return self._client.execute_command(*args, **command_options(args))
        return self._on_connection(args, None)

    def packed(self, resp: bytes, args: Sequence[Any]) -> Any:
        """:meth:`__call__` for ``args`` that the caller packed as ``resp`` already.

        Only when :attr:`writes_resp`; otherwise ``args`` are sent as usual.
        """
        if not (self.enabled and self.writes_resp):
            return self(*args)
        return self._on_connection(args, resp)

    def _on_connection(self, args: Sequence[Any], resp: bytes | None) -> Any:
        conn = self._take()
        clean = False
        try:
            reply = conn.retry.call_with_retry(
                lambda: self._send_and_read(conn, args, resp), lambda _error: conn.disconnect()
            )
            clean = True
            return reply
        except ResponseError:
            clean = True
            raise
        finally:
            self._give(conn, clean)

    def stream(self, commands: Iterable[Sequence[Any]]) -> list[Any]:
        """Send each command as soon as it is built, then read every reply: one round trip.

        Redis runs the first commands while the later ones are still being built (the client's
        work overlaps the server's, unlike a pipeline that is built before it is sent); a list
        or tuple of commands, built already, goes out in one write. Error
        replies are returned in place, not raised. After a connection error, everything sent
        so far is sent again on a fresh connection (the retry policy's), so use it only for
        commands that may run twice (sends are idempotent by id).
        """
        sent: list[Sequence[Any]] = []
        source = iter(commands)
        if not self.enabled:
            pipe = self._client.pipeline(transaction=False)
            for args in source:
                pipe.execute_command(*args, **command_options(args))
            return list(pipe.execute(raise_on_error=False))

        def attempt() -> list[Any]:
            if type(commands) is list or type(commands) is tuple:
                # Built already: one write for all of them (one system call).
                sent[:] = commands
                conn.send_packed_command(conn.pack_commands(sent))
                return [self._read_reply(conn, args) for args in sent]
            for args in sent:
                conn.send_command(*args)
            for args in source:
                sent.append(args)
                conn.send_command(*args)
            return [self._read_reply(conn, args) for args in sent]

        conn = self._take()
        clean = False
        try:
            replies = conn.retry.call_with_retry(attempt, lambda _error: conn.disconnect())
            clean = True
            return list(replies)
        finally:
            self._give(conn, clean)

    def _take(self) -> Connection:
        if os.getpid() != self._pid:
            # A forked child: the sockets belong to the parent (redis-py's connections do not
            # shut a socket down from another process), so just forget them.
            self._idle = []
            self._pid = os.getpid()
        try:
            return self._idle.pop()
        except IndexError:
            assert self._pool is not None
            return self._pool.get_connection()

    def _give(self, conn: Connection, clean: bool) -> None:
        if not clean:
            conn.disconnect()
        if len(self._idle) < self._keep and os.getpid() == self._pid:
            self._idle.append(conn)
        else:
            assert self._pool is not None
            self._pool.release(conn)

    def _send_and_read(self, conn: Connection, args: Sequence[Any], resp: bytes | None) -> Any:
        if resp is None:
            conn.send_command(*args)
        else:
            conn.send_packed_command((resp,))
        return self._read(conn, args)

    def _read_reply(self, conn: Connection, args: Sequence[Any]) -> Any:
        """The next reply; an error reply is returned, not raised (the connection stays in step)."""
        try:
            return self._read(conn, args)
        except ResponseError as exc:
            return exc

    def _read(self, conn: Connection, args: Sequence[Any]) -> Any:
        """The reply to ``args``, read as redis-py's ``execute_command`` would read it.

        A script's reply is Redis' own (redis-py has no reply callback for EVALSHA); other
        commands go through the client's reply callbacks (``TIME`` as a pair of ints, say).
        """
        if args[0] == "EVALSHA":
            return conn.read_response()
        return self._client.parse_response(conn, args[0], **command_options(args))


def command_options(args: Sequence[Any]) -> dict[str, Any]:
    """The redis-py options reading the reply of ``args`` needs (``WITHSCORES``: pairs)."""
    if args[0] != "EVALSHA" and any(
        isinstance(arg, str) and arg.upper() == "WITHSCORES" for arg in args[1:]
    ):
        return {"withscores": True}
    return {}

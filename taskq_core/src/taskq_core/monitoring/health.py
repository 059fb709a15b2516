"""``taskq worker --health-port``: an HTTP probe for Kubernetes liveness and readiness.

``GET /`` (any path) answers 200 while the worker is alive in the sense of
:meth:`~taskq_core.worker.liveness.Liveness.alive`: its consumer (thread, or the threads pool's
threads) runs, its heartbeat thread runs, and the last heartbeat reached the broker within two
heartbeat intervals. Otherwise 503. The body is a JSON object with the details either way. The
probe never calls the broker itself: a probe storm cannot load Redis, and the heartbeat already
proves the broker answers.
"""

from __future__ import annotations

import json
from http.server import ThreadingHTTPServer
from typing import TYPE_CHECKING

from taskq_core.monitoring.http import QuietHandler, serve

if TYPE_CHECKING:
    from taskq_core.worker import Worker


class HealthServer:
    """Serves ``worker``'s liveness on ``host:port`` (0 picks a free port, see :attr:`port`).

    Args:
        worker: The worker to report on.
        host: Address to bind; loopback unless exposing it is meant.
        port: TCP port.
        max_heartbeat_age: Oldest acceptable successful heartbeat in seconds; default two
            heartbeat intervals.
    """

    def __init__(
        self,
        worker: Worker,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        max_heartbeat_age: float | None = None,
    ) -> None:
        self.worker = worker
        self.max_heartbeat_age = max_heartbeat_age
        health = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                status, body = health.check()
                self.reply(status, body)

            do_HEAD = do_GET

        self._server: ThreadingHTTPServer = serve(Handler, host, port, "health")
        self.port: int = self._server.server_address[1]

    def check(self) -> tuple[int, bytes]:
        """The HTTP status (200 or 503) and JSON body of one probe."""
        live = self.worker.liveness()
        alive = live.alive(self.max_heartbeat_age)
        age = live.heartbeat_age
        body = {
            "status": "ok" if alive else "unavailable",
            "worker": self.worker.id,
            "consuming": live.consuming,
            "heartbeating": live.heartbeating,
            "heartbeat_age": None if age is None else round(age, 3),
        }
        return (200 if alive else 503), json.dumps(body).encode()

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

"""A small HTTP server on a daemon thread, for the worker's health endpoint."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from taskq_core.errors import ConfigurationError


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that does not log every request to stderr (probes come every second)."""

    def log_message(self, format: str, *args: object) -> None:
        """Say nothing: a probe's request is not news."""

    def reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        """Send ``body`` with ``status``."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def serve(
    handler: type[BaseHTTPRequestHandler], host: str, port: int, name: str
) -> ThreadingHTTPServer:
    """Bind ``host:port`` and serve ``handler`` on a daemon thread; a bind error is one line."""
    try:
        server = ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot serve {name} on {host}:{port}: {exc.strerror or exc}"
        ) from None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name=f"taskq-{name}", daemon=True).start()
    return server

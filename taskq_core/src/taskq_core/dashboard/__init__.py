"""The web dashboard: queues, workers, task lookup and DEAD browsing, read from the broker.

Installed with the ``dashboard`` extra (``pip install 'taskq-core[dashboard]'``: Starlette,
Jinja2, uvicorn); run it with ``taskq dashboard``. It reads everything through the broker
contract, so it works on every backend and needs no worker events. htmx 2.0.11 (npm package
``htmx.org``, Zero-Clause BSD) is vendored under ``static/`` with its license; the charts are
SVG drawn on the server; nothing is loaded from a CDN.
"""

from __future__ import annotations

from taskq_core.dashboard.app import create_app
from taskq_core.dashboard.security import Credentials, check_bind, is_loopback
from taskq_core.dashboard.server import DEFAULT_PORT, serve

#: Distributions of the ``dashboard`` extra; a missing one is named in the CLI's install hint.
EXTRA_MODULES = ("starlette", "jinja2", "uvicorn", "multipart")

__all__ = [
    "DEFAULT_PORT",
    "EXTRA_MODULES",
    "Credentials",
    "check_bind",
    "create_app",
    "is_loopback",
    "serve",
]

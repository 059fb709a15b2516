"""Serving the dashboard with uvicorn, after the bind rule has been checked."""

from __future__ import annotations

from typing import TYPE_CHECKING

import uvicorn

from taskq_core.dashboard.app import create_app
from taskq_core.dashboard.security import Credentials, check_bind

if TYPE_CHECKING:
    from collections.abc import Sequence

    from taskq_core.broker import BaseBroker
    from taskq_core.periodic.schedule import Periodic

#: Default port of ``taskq dashboard`` (Flower's, so habits carry over).
DEFAULT_PORT = 5555


def serve(
    broker: BaseBroker,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    credentials: Credentials | None = None,
    periodic: Sequence[Periodic] | None = None,
    log_level: str = "info",
) -> None:
    """Serve the dashboard until interrupted.

    Raises:
        ConfigurationError: ``host`` is not loopback and ``credentials`` require nothing.
    """
    credentials = credentials or Credentials()
    check_bind(host, credentials)
    app = create_app(broker, credentials=credentials, periodic=periodic)
    uvicorn.run(app, host=host, port=port, log_level=log_level, server_header=False)

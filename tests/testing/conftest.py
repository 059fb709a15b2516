"""The test kit's own tests run on the memory backend and on the real redis-server.

They override the plugin's ``taskq_broker_url`` fixture (``tests/support/kit.py``), as an app
author testing against Redis would; the server is the root conftest's ``redis_url``.
"""

from __future__ import annotations

from ..support.kit import taskq_broker_url

__all__ = ["taskq_broker_url"]

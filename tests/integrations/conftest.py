"""The framework examples (examples/fastapi_app, flask_app, django_project) under test.

Every test runs twice (``tests/support/kit.py``): on the memory backend and on the session's
real redis-server, each Redis run under a key prefix of its own that is deleted afterwards.
Workers come from the root conftest's ``make_worker``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..support.kit import taskq_broker_url

__all__ = ["ROOT", "taskq_broker_url"]

ROOT = Path(__file__).resolve().parents[2]

if str(ROOT) not in sys.path:  # the examples import as ``examples.<name>``, from the root
    sys.path.insert(0, str(ROOT))

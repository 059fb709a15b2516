"""Monitoring: Prometheus metrics, OpenTelemetry tracing, health checks and JSON logs.

Each module imports its optional dependency (``taskq-core[prometheus]``, ``taskq-core[otel]``)
only when used, so ``import taskq_core`` never needs them; a missing extra is a one-line
:class:`~taskq_core.errors.ConfigurationError` naming it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from taskq_core.errors import ConfigurationError


def require(module: str, *, package: str, extra: str, feature: str) -> ModuleType:
    """Import ``module`` for ``feature``, or say in one line which extra installs ``package``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigurationError(
            f"{feature} needs {package}: pip install 'taskq-core[{extra}]'"
        ) from None

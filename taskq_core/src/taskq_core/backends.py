"""URL scheme -> backend factory, filled by the ``taskq_register_backends`` hook.

``connect("redis://...")`` finds the plugin that registered ``redis`` through the entry-point group
``taskq``. Tests and embedders can add a scheme in-process with :func:`register_backend`.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from taskq_core.errors import ConfigurationError, UnknownBackend
from taskq_core.plugins import plugin_manager
from taskq_core.urls import is_redacted, redact_url

if TYPE_CHECKING:
    from taskq_core.broker import BaseBroker
    from taskq_core.hookspecs import BackendFactory

#: Which distribution to install for the schemes taskq's own backends serve.
KNOWN_PACKAGES = {
    "memory": "taskq-memory",
    "redis": "taskq-redis",
    "rediss": "taskq-redis",
    "unix": "taskq-redis",
}

_registry: dict[str, BackendFactory] = {}
_extra: dict[str, BackendFactory] = {}
_loaded = False
_lock = threading.Lock()


def register_backend(scheme: str, factory: BackendFactory) -> None:
    """Register ``factory`` for ``scheme`` in this process, without packaging a plugin."""
    with _lock:
        _extra[scheme.lower()] = factory
        _registry[scheme.lower()] = factory


def _load() -> dict[str, BackendFactory]:
    global _loaded
    with _lock:
        if not _loaded:
            found: dict[str, BackendFactory] = {}

            def register(scheme: str, factory: BackendFactory) -> None:
                key = scheme.lower()
                if key in found and found[key] is not factory:
                    raise ConfigurationError(f"two taskq backends register scheme {key!r}")
                found[key] = factory

            plugin_manager().hook.taskq_register_backends(register=register)
            found.update(_extra)
            _registry.clear()
            _registry.update(found)
            _loaded = True
        return dict(_registry)


def connect(url: str, **options: object) -> BaseBroker:
    """Build the broker for ``url`` (not yet connected; call ``connect()`` to check it).

    Raises:
        UnknownBackend: no installed backend serves the scheme; the message names the installed
            schemes and the package that would serve it.
        ConfigurationError: no scheme, or a URL whose secrets were already redacted.
    """
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError as exc:  # "Invalid IPv6 URL": an unclosed "[" in the host
        raise ConfigurationError(f"bad broker URL {redact_url(url)!r}: {exc}") from None
    if not scheme:
        raise ConfigurationError(
            f"broker URL {redact_url(url)!r} has no scheme; try memory:// or redis://"
        )
    if is_redacted(url):
        raise ConfigurationError(
            f"broker URL {url!r} has its password hidden (as app.broker_url shows it); "
            "connect with app.reveal_broker_url() or the original URL"
        )
    factories = _load()
    if scheme not in factories:
        installed = ", ".join(sorted(factories)) or "none"
        hint = (
            f" For {scheme}:// install {KNOWN_PACKAGES[scheme]}."
            if scheme in KNOWN_PACKAGES
            else ""
        )
        raise UnknownBackend(
            f"no taskq backend for scheme {scheme!r}; installed: {installed}.{hint}"
        )
    return factories[scheme](url, **options)

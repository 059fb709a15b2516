"""The plugin manager: built lazily, once, with an off-switch.

Nothing happens at import time. The first call to :func:`plugin_manager` adds the hookspecs,
registers the built-in plugins, then loads the entry-point group ``taskq`` unless
``TASKQ_DISABLE_PLUGIN_AUTOLOAD`` is set (tests and embedders can then register by hand).
``TASKQ_TRACE_PLUGINS=1`` logs every hook call.

The worker fires several hooks per task, so which plugins implement a hook is cached per hook
(:func:`implementations`) and recomputed after any plugin is registered or unregistered: a hook
nobody implements costs one dictionary lookup.

Event hooks (:func:`notify`) call each plain implementation on its own, so one failing plugin
cannot keep the others from hearing the event. Wrappers (``wrapper=True`` or the older
``hookwrapper=True``) are honoured: when a hook has any, or tracing is on, the call goes through
pluggy's own hook calling, with the plain implementations (each still on its own) in the place
pluggy gives them, inside the wrappers.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy
from pluggy import HookCaller, HookImpl

from taskq_core import hookspecs
from taskq_core.errors import ConfigurationError
from taskq_core.hookspecs import PROJECT

if TYPE_CHECKING:
    from collections.abc import Sequence

    from taskq_core.schemas import Message

log = logging.getLogger("taskq.plugins")

#: The marker third-party plugins decorate their hook implementations with.
hookimpl = pluggy.HookimplMarker(PROJECT)

_manager: _Manager | None = None
_manager_lock = threading.Lock()


class _Manager(pluggy.PluginManager):
    """pluggy's manager, counting (un)registrations so hook implementations can be cached."""

    generation = 0
    traced = False

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """Register ``plugin``; without a ``name``, it is named after its module or class.

        pluggy's own default name is ``str(id(plugin))``, which says nothing in a log line;
        entry-point plugins keep their entry point's name.
        """
        try:
            return super().register(plugin, name or self._readable_name(plugin))
        finally:
            self.generation += 1

    def _readable_name(self, plugin: object) -> str:
        """``module`` for a module, ``module.Class`` for an instance; made unique with ``#n``."""
        if isinstance(plugin, ModuleType):
            base = plugin.__name__
        elif isinstance(plugin, type):
            base = f"{plugin.__module__}.{plugin.__qualname__}"
        else:
            kind = type(plugin)
            base = f"{kind.__module__}.{kind.__qualname__}"
        name, count = base, 1
        while self.has_plugin(name):
            count += 1
            name = f"{base}#{count}"
        return name

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any:
        try:
            return super().unregister(plugin, name)
        finally:
            self.generation += 1


#: Hook name -> (manager generation, its implementations in call order).
_implementations: dict[str, tuple[int, tuple[HookImpl, ...]]] = {}
#: Hook name -> (manager generation, how :func:`notify` calls it).
_event_calls: dict[str, tuple[int, _EventCall]] = {}


def _autoload_disabled() -> bool:
    return os.environ.get("TASKQ_DISABLE_PLUGIN_AUTOLOAD", "").strip().lower() not in (
        "",
        "0",
        "false",
        "no",
    )


def plugin_manager() -> _Manager:
    """Return the process-wide plugin manager, building it on first use."""
    global _manager
    if _manager is not None:
        return _manager
    with _manager_lock:
        if _manager is None:
            manager = _Manager(PROJECT)
            manager.add_hookspecs(hookspecs)
            from taskq_core import execution

            manager.register(execution, name=execution.BUILTIN_EXECUTE)
            if not _autoload_disabled():
                try:
                    manager.load_setuptools_entrypoints(PROJECT)
                except Exception as exc:
                    raise ConfigurationError(
                        f"a taskq plugin failed to load ({type(exc).__name__}: {exc}); "
                        "fix or uninstall it, or set TASKQ_DISABLE_PLUGIN_AUTOLOAD=1"
                    ) from exc
            manager.check_pending()
            if os.environ.get("TASKQ_TRACE_PLUGINS"):
                manager.trace.root.setwriter(log.debug)
                manager.enable_tracing()
                manager.traced = True
            _manager = manager
    return _manager


def implementations(hook_name: str) -> tuple[HookImpl, ...]:
    """The implementations of ``hook_name`` in pluggy's call order (last registered first).

    Cached until the next (un)registration, so hot paths can skip hooks nobody implements.
    """
    manager = plugin_manager()
    cached = _implementations.get(hook_name)
    if cached is not None and cached[0] == manager.generation:
        return cached[1]
    generation = manager.generation
    impls = tuple(reversed(getattr(manager.hook, hook_name).get_hookimpls()))
    _implementations[hook_name] = (generation, impls)
    return impls


@dataclass(frozen=True)
class _EventCall:
    """How :func:`notify` calls one event hook.

    Attributes:
        plain: The implementations that are not wrappers, called each on its own.
        through: ``None`` to call ``plain`` directly (no wrapper, no tracing); otherwise the
            hook caller (without the plain implementations) whose wrappers wrap that call.
    """

    plain: tuple[HookImpl, ...]
    through: HookCaller | None


def _event_call(hook_name: str) -> _EventCall:
    """How to call ``hook_name`` from :func:`notify`; cached until the next (un)registration."""
    manager = plugin_manager()
    cached = _event_calls.get(hook_name)
    if cached is not None and cached[0] == manager.generation:
        return cached[1]
    generation = manager.generation
    impls = implementations(hook_name)
    plain = tuple(impl for impl in impls if not (impl.wrapper or impl.hookwrapper))
    through: HookCaller | None = None
    if len(plain) < len(impls) or manager.traced:
        try:
            through = manager.subset_hook_caller(hook_name, [impl.plugin for impl in plain])
        except TypeError:  # an unhashable plugin object: pluggy calls the plain ones itself
            through, plain = getattr(manager.hook, hook_name), ()
    call = _EventCall(plain, through)
    _event_calls[hook_name] = (generation, call)
    return call


def notify(hook_name: str, **kwargs: Any) -> None:
    """Fire an event hook after a state change, each plugin on its own; log and swallow errors.

    A failing plugin must not undo an ack, stop a worker, or keep the other plugins from hearing
    the event, so each plain implementation is called separately and its exception ends here.
    Wrappers run around those calls, through pluggy; a wrapper's own exception is logged too,
    and the plain implementations still hear the event if it came before they ran.
    """
    call = _event_call(hook_name)
    if call.through is None:
        _each(call.plain, hook_name, kwargs)
        return
    ran = False

    def everyone() -> None:
        nonlocal ran
        ran = True
        _each(call.plain, hook_name, kwargs)

    try:
        call.through.call_extra([everyone], kwargs)
    except Exception:
        log.exception("a wrapper plugin failed in %s; continuing", hook_name)
        if not ran:
            _each(call.plain, hook_name, kwargs)


def _each(impls: tuple[HookImpl, ...], hook_name: str, kwargs: dict[str, Any]) -> None:
    """Call each of ``impls`` with its arguments out of ``kwargs``; log and swallow errors."""
    for impl in impls:
        try:
            impl.function(*(kwargs[name] for name in impl.argnames))
        except Exception:
            log.exception("plugin %s failed in %s; continuing", impl.plugin_name, hook_name)


def before_send(messages: Sequence[Message]) -> None:
    """Run ``taskq_before_send`` for each message, before any is written (a hook may veto)."""
    if implementations("taskq_before_send"):
        hook = plugin_manager().hook
        for message in messages:
            hook.taskq_before_send(message=message)


def after_send(messages: Sequence[Message], eta: float | None) -> None:
    """Fire ``taskq_after_send`` for each message once the send returned."""
    if implementations("taskq_after_send"):
        for message in messages:
            notify("taskq_after_send", message=message, eta=eta)

"""``worker_app``'s app for ``taskq worker --processes N``: each process records what it does.

``taskq worker supervised_app:app`` imports this module in every supervised worker process,
so the recording hooks ``worker_app.main`` registers for a single worker are registered here
at import. The records carry each process's pid; the worker name (``TASKQ_CRASH_NAME``) is the
same for all of them.
"""

from __future__ import annotations

from worker_app import RecordingPlugin, app, recorder

from taskq_core.plugins import plugin_manager

plugin_manager().register(RecordingPlugin(recorder))

__all__ = ["app"]

"""The app of the ``--broker`` tests: its own URL points where no Redis listens.

A worker given another broker (``taskq worker --broker URL``, or a ``Worker`` of an app switched
with ``use_broker``) must make its processes-pool children send there too: ``fan_out`` runs in a
child and sends ``echo``, which arrives on the worker's broker only if the child uses it. With
the module's URL, the send fails (nothing listens on port 1) and so does ``fan_out``.
"""

from __future__ import annotations

from taskq_core import Taskq

#: Where no Redis listens: port 1 on loopback refuses connections.
UNREACHABLE_URL = "redis://127.0.0.1:1/0"

app = Taskq(UNREACHABLE_URL)


@app.task(name="features.broker.fan_out", max_retries=0)
def fan_out(value: str) -> str:
    """Send ``echo(value)`` from wherever this runs; returns the sub-task's id."""
    return echo.delay(value).id


@app.task(name="features.broker.echo")
def echo(value: str) -> str:
    return value

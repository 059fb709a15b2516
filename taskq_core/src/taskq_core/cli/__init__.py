"""The ``taskq`` command: a thin layer over the public API, one module per command group.

A user's mistake (bad URL, unreachable broker, wrong ``MODULE:APP``) prints one line and exits
with status 1; only a bug in taskq itself shows a traceback (``common.one_line_errors``).
"""

from __future__ import annotations

import click

from taskq_core.cli.dashboard import dashboard
from taskq_core.cli.dead import dead
from taskq_core.cli.demo import demo
from taskq_core.cli.periodic import periodic
from taskq_core.cli.queues import purge, queue, status
from taskq_core.cli.revoke import revoke
from taskq_core.cli.run_worker import worker


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="taskq-core", prog_name="taskq")
def main() -> None:
    """taskq: a distributed task queue for Python.

    The broker URL defaults to $TASKQ_BROKER_URL. Every `taskq worker` option can also be
    set as TASKQ_WORKER_<OPTION>, e.g. TASKQ_WORKER_CONCURRENCY=16 (see taskq worker --help).
    """


for command in (worker, status, queue, dead, periodic, purge, revoke, dashboard, demo):
    main.add_command(command)

__all__ = ["main"]

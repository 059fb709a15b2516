"""The worker processes of ``taskq worker --processes N``: their command line and their start.

Each supervised process runs the very ``taskq worker`` command the user typed, rebuilt from
the parsed options (:func:`worker_command`): what came from the command line is passed again,
what came from ``TASKQ_WORKER_*`` variables comes through the inherited environment, and
defaults stay defaults. Three values differ per process:

* ``--processes 1``: the process is one worker, not another supervisor;
* ``--name NAME-i``: worker ids stay unique when a name was given (else each process makes
  its own ``host:pid:random``);
* ``--metrics-port P+i`` and ``--health-port P+i``: one port per process, since N processes
  cannot listen on one.

``--broker`` is the exception to "passed again": its URL may hold a password, and a command
line is readable by every local user (``ps``), so it reaches the processes as
``TASKQ_WORKER_BROKER`` in their environment (:func:`child_environment`).

The process starts as ``python -m taskq_core.worker.supervisor_child worker ...`` (:func:`main`):
it leaves the supervisor's process group (a terminal's Ctrl-C then reaches the supervisor
alone, which forwards one stop), ties its life to the supervisor's
(:func:`~taskq_core.worker.lifeline.hold`) and runs the ``taskq`` command.
"""

from __future__ import annotations

import os
import runpy
import sys
from typing import Any

import click
from click.core import ParameterSource

from taskq_core.worker.lifeline import hold, lifeline_args
from taskq_core.worker.supervisor import Supervisor

#: The module a supervised worker process runs (``python -m``).
CHILD_MODULE = "taskq_core.worker.supervisor_child"
#: Options that take one port per process: process ``i`` listens on the given port plus ``i``.
PORT_OPTIONS = ("metrics_port", "health_port")
#: Options whose value may hold a secret: passed in the environment, never on a command line.
SECRET_OPTIONS = ("broker",)


def supervise(ctx: click.Context, processes: int) -> int:
    """Run ``processes`` copies of the ``taskq worker`` command of ``ctx``; the exit status."""
    os.environ.update(child_environment(ctx))  # the processes inherit the supervisor's
    return Supervisor(lambda index: child_argv(ctx, index), processes).run()


def child_environment(ctx: click.Context) -> dict[str, str]:
    """The variables that carry the command line's secret options to the worker processes."""
    variables: dict[str, str] = {}
    for param in ctx.command.params:
        name = param.name
        if name not in SECRET_OPTIONS or ctx.get_parameter_source(name) is not (
            ParameterSource.COMMANDLINE
        ):
            continue
        value = ctx.params.get(name)
        if value is not None:
            variables[_variable(ctx, param)] = str(value)
    return variables


def _variable(ctx: click.Context, param: click.Parameter) -> str:
    """The environment variable ``param`` reads (its own, else the automatic prefix's)."""
    envvar = param.envvar
    if isinstance(envvar, str):
        return envvar
    if envvar:
        return str(envvar[0])
    return f"{ctx.auto_envvar_prefix}_{(param.name or '').upper()}"


def child_argv(ctx: click.Context, index: int) -> list[str]:
    """The argument list that starts the supervised worker process number ``index``."""
    return [sys.executable, "-m", CHILD_MODULE, *worker_command(ctx, index)]


def worker_command(ctx: click.Context, index: int) -> list[str]:
    """The ``taskq`` arguments of worker process ``index``: ``worker [OPTIONS] MODULE:APP``."""
    overrides: dict[str, Any] = {"processes": 1}
    for name in PORT_OPTIONS:
        if ctx.params.get(name):  # 0 asks the system for a free port: the same for each
            overrides[name] = ctx.params[name] + index
    if ctx.params.get("name"):
        overrides["name"] = f"{ctx.params['name']}-{index}"
    options: list[str] = []
    arguments: list[str] = []
    for param in ctx.command.params:
        name = param.name
        if name is None or name in SECRET_OPTIONS:
            continue
        if name in overrides:
            value = overrides[name]
        elif ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE:
            value = ctx.params[name]
        else:
            continue  # a default, or a variable the process inherits with the environment
        if isinstance(param, click.Option):
            options += _option(param, value)
        elif value is not None:
            arguments.append(str(value))
    return [ctx.info_name or "worker", *options, *arguments]


def _option(param: click.Option, value: Any) -> list[str]:
    """``param`` given ``value`` on a command line (after its callback: a value it accepts)."""
    if value is None:
        return []
    if param.is_flag:
        if param.secondary_opts:
            return [param.opts[0] if value else param.secondary_opts[0]]
        return [param.opts[0]] if value == param.flag_value else []
    flag = max(param.opts, key=len)
    values = value if param.multiple else [value]
    return [item for one in values for item in (flag, str(one))]


def main() -> None:
    """Entry of a supervised worker process: ``python -m`` this module with ``taskq`` arguments."""
    own, lifeline_fd, supervisor_pid = lifeline_args(sys.argv[1:])
    os.setpgid(0, 0)
    hold(lifeline_fd, supervisor_pid)
    sys.argv = ["taskq", *own]
    runpy.run_module("taskq_core", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()

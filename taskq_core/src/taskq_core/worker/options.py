"""``taskq worker`` options owned by the worker's parts, and the worker's variables.

Every worker option also reads ``TASKQ_WORKER_<OPTION>`` (click's ``auto_envvar_prefix``), and
``taskq worker --help`` names each variable, so a container sets its worker up from the
environment alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

#: Prefix of the environment variables the ``taskq worker`` options read.
WORKER_ENV_PREFIX = "TASKQ_WORKER"

#: Multipliers to KiB of ``--max-memory-per-child``'s units (binary: 1 M = 1024 K).
MEMORY_UNITS_KIB = {"": 1, "K": 1, "M": 1024, "G": 1024 * 1024}
_MEMORY = re.compile(r"^\s*(\d+)\s*(?:([KMG])(?:I?B)?)?\s*$", re.IGNORECASE)


def parse_memory_kib(text: str) -> int:
    """``"200000"`` (KiB), ``"512M"``, ``"512MiB"``, ``"1g"`` -> KiB.

    Raises:
        ValueError: not a whole number with an optional K, M or G unit, or zero.
    """
    match = _MEMORY.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a size: give KiB (200000) or a unit (512M, 1G)")
    kib = int(match[1]) * MEMORY_UNITS_KIB[(match[2] or "").upper()]
    if kib < 1:
        raise ValueError("a memory limit must be at least 1 KiB")
    return kib


def _memory_kib(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """Convert ``--max-memory-per-child`` to KiB, failing with click's one-line usage error."""
    if value is None:
        return None
    try:
        return parse_memory_kib(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def recycling_options(command: F) -> F:
    """``--max-tasks-per-child`` and ``--max-memory-per-child`` (the processes pool)."""
    command = click.option(
        "--max-memory-per-child",
        metavar="SIZE",
        callback=_memory_kib,
        help="Replace a pool child whose resident memory passed this after a task "
        "(KiB, or 512M, 2G); --pool processes only.",
    )(command)
    return click.option(
        "--max-tasks-per-child",
        type=click.IntRange(min=1),
        help="Replace a pool child after this many tasks; --pool processes only.",
    )(command)


def async_options(command: F) -> F:
    """``--async-concurrency`` (``async def`` tasks as coroutines; threads and solo pools)."""
    return click.option(
        "--async-concurrency",
        type=click.IntRange(min=1),
        help="async def tasks running at once on the worker's event loop, without a pool "
        "thread each (default: -c; solo: one task at a time); threads and solo pools.",
    )(command)


def show_envvars(command: click.Command) -> click.Command:
    """Name each option's ``TASKQ_WORKER_...`` variable in ``--help``."""
    for param in command.params:
        if isinstance(param, click.Option):
            param.show_envvar = True
    return command

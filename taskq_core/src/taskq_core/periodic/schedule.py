"""What a periodic schedule is: when its ticks fall, what it sends, and what it is called.

Two cadences:

* :class:`Every` (``every=30``): ticks at the multiples of the interval since the Unix epoch, so
  every scheduler, whenever it started, agrees on where the ticks fall.
* :class:`Cron` (``cron="*/5 * * * *", tz="Europe/Paris"``): ticks where the expression matches
  the wall clock of ``tz``, as computed by the ``cronsim`` library, whose rules decide DST: a
  time skipped when clocks go forward fires at the first moment after the gap; a time that
  happens twice when clocks go back fires once, except for schedules that fire every hour or
  more often, which run in both hours.

A schedule's :attr:`Periodic.key` names it in the broker, where the latest claimed tick is
kept: it is ``name=`` when given, else the task name and the cadence (plus a digest of the
arguments), so every process that imports the same code computes the same key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import uuid
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypedDict, get_args

from cronsim import CronSim, CronSimError

from taskq_core.capabilities import PeriodicTicks
from taskq_core.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable

    from taskq_core.app import Taskq
    from taskq_core.schemas import Message
    from taskq_core.task import Task

#: What a scheduler does with a tick that fell due while no scheduler ran: ``latest`` sends
#: the most recent one once (however many were missed), ``skip`` sends none of them.
CatchUp = Literal["latest", "skip"]
#: How late, in seconds, a tick may be noticed and still count as on time under ``skip``
#: (a scheduler that runs notices a tick within about a second).
SKIP_AFTER = 60.0
#: Shortest ``every=`` interval, in seconds (the scheduler looks at the clock about once a second).
MIN_EVERY = 1.0
#: Headers of a periodic message: the schedule's key and the tick (epoch seconds, ``repr``).
#: The feature named when periodic schedules meet a backend without periodic ticks.
PERIODIC = "periodic schedules"
SCHEDULE_HEADER = "taskq-periodic"
TICK_HEADER = "taskq-tick"
#: Namespace of the message ids derived from a schedule's key and a tick.
_TICK_ID_NAMESPACE = uuid.UUID("6f1c2d5e-8a0b-4c53-9e21-7d4b0a6c3f18")


@dataclass(frozen=True)
class Every:
    """Ticks every ``seconds``, at the multiples of it since the epoch."""

    seconds: float

    @property
    def spec(self) -> str:
        """How the cadence is shown and keyed: ``every=30s``."""
        return f"every={self.seconds:g}s"

    def next_after(self, moment: float) -> float:
        """The first tick strictly after ``moment``."""
        tick = (math.floor(moment / self.seconds) + 1) * self.seconds
        return tick if tick > moment else tick + self.seconds

    def latest_at_or_before(self, moment: float) -> float:
        """The last tick at or before ``moment``."""
        return math.floor(moment / self.seconds) * self.seconds


@dataclass(frozen=True)
class Cron:
    """Ticks where a cron expression matches the wall clock of ``tz``."""

    expression: str
    tz: zoneinfo.ZoneInfo

    @property
    def spec(self) -> str:
        """How the cadence is shown and keyed: ``cron=*/5 * * * * tz=Europe/Paris``."""
        return f"cron={self.expression} tz={self.tz.key}"

    def next_after(self, moment: float) -> float:
        """The first tick strictly after ``moment``."""
        start = dt.datetime.fromtimestamp(moment, self.tz)
        return next(CronSim(self.expression, start)).timestamp()

    def latest_at_or_before(self, moment: float) -> float:
        """The last tick at or before ``moment``."""
        start = dt.datetime.fromtimestamp(moment, self.tz)
        # cronsim steps strictly backwards from the whole minute, so a tick at ``moment`` itself
        # is the one after the tick it returns.
        found = next(CronSim(self.expression, start, reverse=True)).timestamp()
        following = self.next_after(found)
        return following if following <= moment else found


@dataclass(frozen=True)
class Periodic:
    """One schedule: which task is sent with which arguments, and when.

    Attributes:
        key: Identity in the broker (claims and the last fire are kept under it).
        task: The task sent at each tick.
        cadence: When the ticks fall.
        args: Positional arguments of each call.
        kwargs: Keyword arguments of each call.
        queue: Queue override; ``None`` routes like ``task.delay()``.
        priority: Priority override; ``None`` uses the task's.
        catch_up: What happens to ticks missed while no scheduler ran (:data:`CatchUp`).
    """

    key: str
    task: Task[..., Any]
    cadence: Every | Cron
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    queue: str | None = None
    priority: int | None = None
    catch_up: CatchUp = "latest"

    @property
    def queue_name(self) -> str:
        """The queue the messages go to (where the claims are kept too)."""
        return self.queue or self.task.app.route(self.task)

    def message(self, tick: float) -> Message:
        """The message of ``tick``; its id is derived from the key and the tick.

        A deterministic id makes a send retried after a lost reply a no-op, and lets anyone
        find the message of a given tick.
        """
        return self.task.build_message(
            self.args,
            self.kwargs,
            queue=self.queue,
            priority=self.priority,
            task_id=str(uuid.uuid5(_TICK_ID_NAMESPACE, f"{self.key}@{tick!r}")),
            headers={SCHEDULE_HEADER: self.key, TICK_HEADER: repr(tick)},
        )


class PeriodicOptions(TypedDict, total=False):
    """The options of ``@app.periodic``; give exactly one of ``cron`` and ``every``.

    Attributes:
        cron: Five-field cron expression, matched against the wall clock of ``tz``.
        tz: IANA timezone of ``cron`` (default UTC).
        every: Interval in seconds (or a ``timedelta``), at least :data:`MIN_EVERY`; ticks at
            its multiples since the epoch.
        args: Positional arguments of each call.
        kwargs: Keyword arguments of each call.
        queue: Queue to send to instead of the task's.
        priority: Priority instead of the task's.
        name: The schedule's identity in the broker; default task name + cadence + arguments.
        catch_up: ``"latest"`` (default): ticks missed while no scheduler ran are sent once;
            ``"skip"``: not at all (:data:`CatchUp`).
    """

    cron: str
    tz: str
    every: float | dt.timedelta
    args: Sequence[Any]
    kwargs: Mapping[str, Any]
    queue: str
    priority: int
    name: str
    catch_up: CatchUp


def schedule_decorator(app: Taskq, options: PeriodicOptions) -> Callable[[Any], Task[..., Any]]:
    """What ``app.periodic(**options)`` returns: validates now, schedules at decoration.

    Raises:
        ConfigurationError: a bad cadence or option (at once), or, at decoration, a second
            schedule with the same key.
    """
    from taskq_core.task import Task

    cadence = cadence_of(cron=options.get("cron"), tz=options.get("tz"), every=options.get("every"))

    def schedule(target: Any) -> Task[..., Any]:
        task = target if isinstance(target, Task) else app.task(target)
        periodic = periodic_of(
            task,
            cadence,
            args=options.get("args"),
            kwargs=options.get("kwargs"),
            queue=options.get("queue"),
            priority=options.get("priority"),
            name=options.get("name"),
            catch_up=options.get("catch_up", "latest"),
        )
        if periodic.key in app.periodic_schedules:
            raise ConfigurationError(f"periodic schedule {periodic.key!r} is defined twice")
        app.periodic_schedules[periodic.key] = periodic
        return task

    return schedule


def cadence_of(
    *, cron: str | None, tz: str | None, every: float | dt.timedelta | None
) -> Every | Cron:
    """Validate the decorator's timing arguments into a cadence.

    Raises:
        ConfigurationError: not exactly one of ``cron``/``every``, a bad cron expression, an
            unknown timezone, or an interval below :data:`MIN_EVERY`; one line each.
    """
    if (cron is None) == (every is None):
        raise ConfigurationError("give periodic exactly one of cron= or every=")
    if every is not None:
        if tz is not None:
            raise ConfigurationError("tz= applies to cron= schedules; every= is counted in UTC")
        seconds = every.total_seconds() if isinstance(every, dt.timedelta) else float(every)
        if not math.isfinite(seconds) or seconds < MIN_EVERY:
            raise ConfigurationError(f"every= must be at least {MIN_EVERY:g} s, got {every!r}")
        return Every(seconds)
    assert cron is not None
    try:
        zone = zoneinfo.ZoneInfo(tz or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(f"unknown timezone {tz!r} (use an IANA name)") from None
    try:
        CronSim(cron, dt.datetime.now(zone))
    except CronSimError as exc:
        raise ConfigurationError(f"invalid cron expression {cron!r}: {exc}") from None
    return Cron(cron, zone)


def periodic_of(
    task: Task[..., Any],
    cadence: Every | Cron,
    *,
    args: Sequence[Any] | None,
    kwargs: Mapping[str, Any] | None,
    queue: str | None,
    priority: int | None,
    name: str | None,
    catch_up: str,
) -> Periodic:
    """Build a schedule, checking its arguments and options before any worker runs it.

    Raises:
        ConfigurationError: unknown ``catch_up``, bad queue or priority (one line).
        SerializationError: an argument is not JSON.
    """
    if catch_up not in get_args(CatchUp):
        raise ConfigurationError(f"catch_up must be 'latest' or 'skip', got {catch_up!r}")
    call = (tuple(args or ()), dict(kwargs or {}))
    key = name or f"{task.name} {cadence.spec}"
    if name is None and (call[0] or call[1]):
        encoded = json.dumps(call, sort_keys=True, default=repr).encode()
        key += f" args={hashlib.sha256(encoded).hexdigest()[:12]}"
    periodic = Periodic(
        key=key,
        task=task,
        cadence=cadence,
        args=call[0],
        kwargs=call[1],
        queue=queue,
        priority=priority,
        catch_up=catch_up,  # type: ignore[arg-type]
    )
    periodic.message(0.0)  # raises now, not at the first tick, for non-JSON arguments
    return periodic


def fires(periodic: Periodic, now: float) -> dict[str, Any]:
    """One row of ``taskq periodic list``: the schedule, its next fire and its last fire.

    The last fire is the latest tick claimed in the broker (by any scheduler); times are ISO
    8601 in UTC, ``None`` for a schedule that never fired.
    """
    ticks = PeriodicTicks.require(periodic.task.app.broker, PERIODIC)
    last = ticks.last_tick(periodic.queue_name, periodic.key)
    return {
        "key": periodic.key,
        "task": periodic.task.name,
        "schedule": periodic.cadence.spec,
        "queue": periodic.queue_name,
        "catch_up": periodic.catch_up,
        "next_fire": _iso(periodic.cadence.next_after(now)),
        "last_fire": None if last is None else _iso(last),
    }


def _iso(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).isoformat(timespec="seconds")

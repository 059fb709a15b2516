"""When ticks fall: cron in a timezone across DST changes, and epoch-aligned intervals."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest

from taskq_core import ConfigurationError, SerializationError, Taskq
from taskq_core.periodic import Cron, Every, cadence_of

PARIS = ZoneInfo("Europe/Paris")
UTC = dt.UTC


def at(*fields: int, tz: dt.tzinfo = UTC) -> float:
    return dt.datetime(*fields, tzinfo=tz).timestamp()  # type: ignore[misc]


def local(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, PARIS).isoformat()


def test_every_ticks_are_aligned_to_the_epoch() -> None:
    """Schedulers started at different moments agree on where the ticks fall."""
    # Given an every=30 cadence, looked at from two arbitrary moments in one interval
    every = Every(30.0)
    # When each asks for the next tick
    ticks = {every.next_after(1_700_000_011.2), every.next_after(1_700_000_039.9)}
    # Then both get the same multiple of 30
    assert ticks == {1_700_000_040.0}
    assert 1_700_000_040.0 % 30 == 0


def test_every_at_a_tick_is_that_tick_and_next_is_strictly_after() -> None:
    every = Every(30.0)
    assert every.latest_at_or_before(1_700_000_010.0) == 1_700_000_010.0
    assert every.next_after(1_700_000_010.0) == 1_700_000_040.0
    assert every.latest_at_or_before(1_700_000_039.999) == 1_700_000_010.0


def test_cron_latest_at_or_before_includes_the_moment_itself() -> None:
    cron = Cron("*/5 * * * *", ZoneInfo("UTC"))
    tick = at(2026, 1, 1, 12, 5)
    assert cron.latest_at_or_before(tick) == tick
    assert cron.latest_at_or_before(tick + 0.5) == tick
    assert cron.latest_at_or_before(tick - 0.5) == at(2026, 1, 1, 12, 0)
    assert cron.next_after(tick) == at(2026, 1, 1, 12, 10)


def test_cron_in_a_timezone_follows_its_wall_clock() -> None:
    """``0 9 * * *`` in Paris is 08:00 UTC in winter and 07:00 UTC in summer."""
    cron = Cron("0 9 * * *", PARIS)
    assert cron.next_after(at(2026, 1, 15)) == at(2026, 1, 15, 8)
    assert cron.next_after(at(2026, 7, 15)) == at(2026, 7, 15, 7)


def test_a_time_skipped_when_clocks_go_forward_fires_right_after_the_gap() -> None:
    """02:30 does not exist in Paris on 2026-03-29: the daily job fires at 03:00 CEST."""
    cron = Cron("30 2 * * *", PARIS)
    fires = [cron.next_after(at(2026, 3, 28, 12))]
    fires.append(cron.next_after(fires[-1]))
    assert [local(f) for f in fires] == ["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"]


def test_a_daily_time_that_happens_twice_when_clocks_go_back_fires_once() -> None:
    """02:30 happens twice in Paris on 2026-10-25; a daily job runs in the first one only."""
    cron = Cron("30 2 * * *", PARIS)
    fires = [cron.next_after(at(2026, 10, 24, 12))]
    fires.append(cron.next_after(fires[-1]))
    assert [local(f) for f in fires] == ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]


def test_a_frequent_schedule_runs_in_both_repeated_hours() -> None:
    """``*/30`` keeps firing every 30 real minutes through the repeated hour."""
    cron = Cron("*/30 * * * *", PARIS)
    fires = [cron.next_after(at(2026, 10, 24, 23, 50))]  # 01:50 CEST
    for _ in range(4):
        fires.append(cron.next_after(fires[-1]))
    assert [local(f) for f in fires] == [
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:00:00+01:00",
        "2026-10-25T02:30:00+01:00",
        "2026-10-25T03:00:00+01:00",
    ]
    assert {b - a for a, b in itertools.pairwise(fires)} == {1800.0}
    # and looking back from inside the repeated hour finds the tick of that same hour
    assert local(cron.latest_at_or_before(fires[2] + 60)) == "2026-10-25T02:00:00+01:00"


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"cron": "61 * * * *"}, "invalid cron expression '61 * * * *'"),
        ({"cron": "* * *"}, "invalid cron expression"),
        ({"cron": "0 9 * * *", "tz": "Europe/Pariss"}, "unknown timezone 'Europe/Pariss'"),
        ({"every": 0.5}, "every= must be at least 1 s"),
        ({"every": 30, "tz": "Europe/Paris"}, "tz= applies to cron="),
        ({}, "exactly one of cron= or every="),
        ({"cron": "* * * * *", "every": 30}, "exactly one of cron= or every="),
    ],
)
def test_a_bad_schedule_is_one_clear_error_at_decoration(
    options: dict[str, object], fragment: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        cadence_of(
            cron=options.get("cron"),  # type: ignore[arg-type]
            tz=options.get("tz"),  # type: ignore[arg-type]
            every=options.get("every"),  # type: ignore[arg-type]
        )
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


def test_every_accepts_a_timedelta() -> None:
    assert cadence_of(cron=None, tz=None, every=dt.timedelta(minutes=2)) == Every(120.0)


def test_periodic_above_a_task_schedules_it_and_on_a_function_registers_it(app: Taskq) -> None:
    # Given one task decorated with @app.task under @app.periodic, and a plain function
    @app.periodic(every=30)
    @app.task(name="tests.report")
    def report() -> None: ...

    @app.periodic(cron="*/5 * * * *", tz="Europe/Paris", args=[1], queue="cron", priority=7)
    def cleanup(days: int) -> None: ...

    # Then both are tasks, each with one schedule named by task and cadence (+ arguments)
    assert set(app.tasks) == {"tests.report", cleanup.name}
    keys = sorted(app.periodic_schedules)
    assert keys[1] == "tests.report every=30s"
    assert keys[0].startswith(f"{cleanup.name} cron=*/5 * * * * tz=Europe/Paris args=")
    scheduled = app.periodic_schedules[keys[0]]
    message = scheduled.message(1_700_000_100.0)
    assert (message.queue, message.priority, message.args) == ("cron", 7, (1,))


def test_the_tick_message_id_is_the_same_in_every_process(app: Taskq) -> None:
    @app.periodic(every=60, name="nightly")
    def job() -> None: ...

    periodic = app.periodic_schedules["nightly"]
    assert periodic.message(120.0).id == periodic.message(120.0).id
    assert periodic.message(120.0).id != periodic.message(180.0).id
    assert periodic.message(120.0).headers == {"taskq-periodic": "nightly", "taskq-tick": "120.0"}


def test_the_same_schedule_twice_is_refused_but_other_arguments_are_another(app: Taskq) -> None:
    @app.periodic(every=60, args=[1])
    @app.periodic(every=60, args=[2])
    def job(n: int) -> None: ...

    with pytest.raises(ConfigurationError, match="defined twice"):
        app.periodic(every=60, args=[1])(job)
    assert len(app.periodic_schedules) == 2


def test_non_json_arguments_and_a_bad_catch_up_fail_at_decoration(app: Taskq) -> None:
    with pytest.raises(SerializationError):

        @app.periodic(every=60, args=[object()])
        def job(value: object) -> None: ...

    with pytest.raises(ConfigurationError, match="catch_up must be 'latest' or 'skip'"):
        app.periodic(every=60, catch_up="all")(lambda: None)

"""Taskq: the task registry, default names and routing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest

from taskq_core import ConfigurationError, Taskq
from taskq_core.registry import default_task_name

if TYPE_CHECKING:
    from pathlib import Path


def test_default_name_is_module_and_qualname(app: Taskq):
    # Given a task registered without a name
    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    # Then its name is the module plus the qualified name, and the app knows it by that name
    assert add.name == f"{__name__}.test_default_name_is_module_and_qualname.<locals>.add"
    assert app.tasks[add.name] is add


def test_explicit_name_wins(app: Taskq):
    # Given a task registered with a name, then that is its wire name
    @app.task(name="billing.charge")
    def charge() -> None: ...

    assert charge.name == "billing.charge"
    assert set(app.tasks) == {"billing.charge"}


def test_a_script_run_as_main_names_tasks_by_its_module_name(tmp_path: Path):
    # Given a script that defines a task and is run as ``python tasks.py`` (module __main__)
    script = tmp_path / "tasks.py"
    script.write_text(
        textwrap.dedent(
            """
            from taskq_core import Taskq
            app = Taskq("memory://")

            @app.task
            def add(x, y):
                return x + y

            print(add.name)
            """
        )
    )

    # When it runs
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=True
    )

    # Then the task is named after the file, as a worker importing ``tasks`` would name it
    assert done.stdout.strip() == "tasks.add"


def test_main_module_with_a_spec_uses_the_spec_name(monkeypatch: pytest.MonkeyPatch):
    # Given a function whose module is __main__, run with ``python -m pkg.jobs``
    main = type(sys)("__main__")
    main.__spec__ = type("Spec", (), {"name": "pkg.jobs"})()  # type: ignore[assignment]
    monkeypatch.setitem(sys.modules, "__main__", main)

    def job() -> None: ...

    job.__module__ = "__main__"

    # When its default name is computed, then it uses the module's importable name
    assert (
        default_task_name(job)
        == "pkg.jobs.test_main_module_with_a_spec_uses_the_spec_name.<locals>.job"
    )


def test_registering_a_second_function_under_a_taken_name_fails(app: Taskq):
    # Given a task called "jobs.x"
    @app.task(name="jobs.x")
    def first() -> None: ...

    # When another function claims the same name, then registration fails
    with pytest.raises(ConfigurationError, match="registered twice"):

        @app.task(name="jobs.x")
        def second() -> None: ...

    assert app.tasks["jobs.x"].fn is first.fn


def test_registering_the_same_function_again_is_allowed(app: Taskq):
    # Given a function registered once (a module imported twice does this)
    def job() -> None: ...

    first = app.task(name="jobs.y")(job)

    # When it is registered again under the same name, then the registry holds the new wrapper
    second = app.task(name="jobs.y")(job)
    assert app.tasks["jobs.y"] is second
    assert first.fn is second.fn


def test_calling_a_task_runs_it_here(app: Taskq):
    # Given a task, when it is called like a function, then it runs in this process
    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    assert add(2, 3) == 5
    assert app.broker.counts(app.default_queue).ready == 0


@pytest.mark.parametrize("priority", [-1, 10])
def test_task_priority_out_of_bounds_is_a_configuration_error(app: Taskq, priority: int):
    # Given a task declared with a priority outside 0-9, then registration fails
    with pytest.raises(ConfigurationError, match="priority"):
        app.task(priority=priority)


def test_max_deliveries_below_one_is_a_configuration_error(app: Taskq):
    # Given a task declared with max_deliveries=0, then registration fails
    with pytest.raises(ConfigurationError, match="max_deliveries"):
        app.task(max_deliveries=0)


@pytest.mark.parametrize(
    "configure",
    [
        pytest.param(lambda app: Taskq(app.broker, default_queue="bad name"), id="default_queue"),
        pytest.param(lambda app: Taskq(app.broker, routes={"x.*": "bad name"}), id="routes"),
        pytest.param(lambda app: app.task(queue="bad name")(lambda: None), id="task"),
    ],
)
def test_bad_queue_name_in_app_configuration_is_a_configuration_error(app: Taskq, configure):
    # Given a queue name with a space in the app, a route or a task
    # When it is configured, then taskq refuses it with its own error type
    with pytest.raises(ConfigurationError, match="invalid queue name"):
        configure(app)


def test_routes_send_matching_tasks_to_their_queue(broker):
    # Given a route for every task under "reports."
    app = Taskq(broker, routes={"reports.*": "slow"})

    @app.task(name="reports.monthly")
    def monthly() -> None: ...

    @app.task(name="mail.send")
    def send() -> None: ...

    # When both are sent
    monthly.delay()
    send.delay()

    # Then the matching one goes to the routed queue, the other to the default queue
    assert broker.counts("slow").ready == 1
    assert broker.counts("default").ready == 1


def test_first_matching_route_wins(broker):
    # Given two routes that both match a task name
    app = Taskq(broker, routes={"reports.*": "slow", "reports.daily": "fast"})

    @app.task(name="reports.daily")
    def daily() -> None: ...

    # When it is sent, then the first route in the mapping decides
    assert daily.delay().queue == "slow"


def test_a_tasks_own_queue_wins_over_routes(broker):
    # Given a route that matches a task which names its own queue
    app = Taskq(broker, routes={"reports.*": "slow"})

    @app.task(name="reports.urgent", queue="urgent")
    def urgent() -> None: ...

    # When it is sent, then its own queue is used
    assert urgent.delay().queue == "urgent"
    assert broker.counts("urgent").ready == 1
    assert broker.counts("slow").ready == 0


def test_queue_names_lists_the_default_queue_first(broker):
    # Given an app with a route and a task with its own queue
    app = Taskq(broker, routes={"reports.*": "slow"})

    @app.task(queue="urgent")
    def urgent() -> None: ...

    # When a worker asks which queues to consume, then it gets each once, default first
    assert app.queue_names() == ["default", "slow", "urgent"]


def test_app_without_a_broker_uses_the_environment_url(monkeypatch: pytest.MonkeyPatch):
    # Given TASKQ_BROKER_URL is set
    monkeypatch.setenv("TASKQ_BROKER_URL", "memory://")

    # When an app is created without a broker, then it uses that URL
    assert Taskq().broker_url == "memory://"

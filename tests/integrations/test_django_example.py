"""examples/django_project: Django's own test runner runs the shop's tests, on each broker.

The project is configured the Django way: ``TASKQ_*`` in ``settings.py``, read by
``Taskq.from_config(settings)``; the test only chooses the broker, through ``$TASKQ_BROKER_URL``,
which overrides the settings. A subprocess keeps Django's process-wide setup out of this one.
"""

from __future__ import annotations

import os
import subprocess
import sys

from .conftest import ROOT

PROJECT = ROOT / "examples" / "django_project"
#: Wall-clock bound on the run; it takes about a second.
RUN_TIMEOUT = 120.0


def test_the_shops_tests_pass_under_djangos_test_runner(taskq_broker_url):
    env = {**os.environ, "TASKQ_BROKER_URL": taskq_broker_url, "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)

    run = subprocess.run(
        [sys.executable, "manage.py", "test", "--noinput", "-v", "2"],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )

    assert run.returncode == 0, run.stdout + run.stderr
    assert "Ran 3 tests" in run.stderr
    assert "OK" in run.stderr

"""``Taskq.from_config``: pyproject.toml, settings objects and mappings, under TASKQ_* variables."""

from __future__ import annotations

import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from taskq_core import ConfigurationError, Taskq
from taskq_core.settings import load_settings

PYPROJECT = """
    [project]
    name = "shop"

    [tool.taskq]
    broker_url = "memory://"
    default_queue = "web"
    routes = {"reports.*" = "slow"}
    queue_limits = {slow = 2}
    result_ttl = 600
    max_message_bytes = 65536
"""


@pytest.fixture(autouse=True)
def no_taskq_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests set the TASKQ_* variables they need; none leaks in from the shell."""
    for name in ("BROKER_URL", "DEFAULT_QUEUE", "ROUTES", "QUEUE_LIMITS", "RESULT_TTL"):
        monkeypatch.delenv(f"TASKQ_{name}", raising=False)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent(PYPROJECT))
    (tmp_path / "src" / "shop").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "src" / "shop")  # found from a subdirectory too
    return tmp_path


def test_from_config_reads_tool_taskq_of_the_nearest_pyproject(project):
    app = Taskq.from_config()

    assert app.broker_url == "memory://"
    assert app.default_queue == "web"
    assert app.routes == {"reports.*": "slow"}
    assert app.queue_limits == {"slow": 2}
    assert app.result_ttl == 600.0
    assert app.max_message_bytes == 65536


def test_environment_variables_override_the_file(project, monkeypatch):
    monkeypatch.setenv("TASKQ_DEFAULT_QUEUE", "from-env")
    monkeypatch.setenv("TASKQ_QUEUE_LIMITS", '{"slow": 5}')

    app = Taskq.from_config(project / "pyproject.toml")

    assert app.default_queue == "from-env"
    assert app.queue_limits == {"slow": 5}
    assert app.routes == {"reports.*": "slow"}  # untouched values still come from the file


def test_taskq_broker_url_keeps_naming_the_broker(project, monkeypatch):
    monkeypatch.setenv("TASKQ_BROKER_URL", "redis://elsewhere:6379/0")

    assert Taskq.from_config().broker_url == "redis://elsewhere:6379/0"


def test_a_settings_object_gives_its_taskq_attributes(monkeypatch):
    settings = SimpleNamespace(
        TASKQ_BROKER_URL="memory://", TASKQ_ROUTES={"mail.*": "mail"}, DEBUG=True
    )

    app = Taskq.from_config(settings)

    assert app.routes == {"mail.*": "mail"}
    assert app.broker_url == "memory://"


def test_a_mapping_and_keyword_options(monkeypatch):
    app = Taskq.from_config({"default_queue": "q1", "ignore_results": True}, result_ttl=5.0)

    assert (app.default_queue, app.ignore_results, app.result_ttl) == ("q1", True, 5.0)


def test_an_unknown_key_is_one_line_naming_it_and_where(project):
    (project / "pyproject.toml").write_text('[tool.taskq]\nbroker = "redis://x"\n')

    with pytest.raises(ConfigurationError) as caught:
        Taskq.from_config()

    message = str(caught.value)
    assert "unknown taskq setting 'broker'" in message
    assert "pyproject.toml [tool.taskq]" in message
    assert "broker_url" in message  # the known settings are listed
    assert "\n" not in message


def test_an_unknown_settings_attribute_is_refused(monkeypatch):
    with pytest.raises(ConfigurationError, match="unknown taskq setting 'brokr_url'"):
        Taskq.from_config(SimpleNamespace(TASKQ_BROKR_URL="memory://"))


def test_a_mistyped_value_is_one_line_naming_the_setting(monkeypatch):
    with pytest.raises(ConfigurationError) as caught:
        load_settings({"queue_limits": {"slow": "two"}})

    assert str(caught.value).startswith("taskq setting queue_limits.slow in the settings mapping")
    assert "\n" not in str(caught.value)


def test_a_bad_environment_value_is_one_line_too(monkeypatch):
    monkeypatch.setenv("TASKQ_RESULT_TTL", "soon")

    with pytest.raises(ConfigurationError, match=r"result_ttl in \$TASKQ_RESULT_TTL"):
        load_settings({})


def test_no_pyproject_means_defaults_and_the_environment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("taskq_core.settings.find_pyproject", lambda start: None)
    monkeypatch.setenv("TASKQ_DEFAULT_QUEUE", "env-only")

    assert Taskq.from_config().default_queue == "env-only"

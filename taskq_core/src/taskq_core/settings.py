"""An app's configuration from a file, a settings object or a dict, and ``TASKQ_*`` variables.

``Taskq.from_config()`` builds an app from a :class:`TaskqSettings`. The values come from one
source: the ``[tool.taskq]`` table of a ``pyproject.toml`` (the nearest one from the working
directory up, by default), a mapping of setting names, or a settings object such as Django's
``django.conf.settings`` (attributes ``TASKQ_BROKER_URL``, ``TASKQ_ROUTES``...). Environment
variables ``TASKQ_<SETTING>`` override the source, so one file serves every deployment.
A misspelt or mistyped setting is one line naming it (``ConfigurationError``).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from taskq_core.arguments import DEFAULT_MAX_MESSAGE_BYTES
from taskq_core.broker import DEFAULT_RESULT_TTL
from taskq_core.errors import ConfigurationError

__all__ = ["ENV_PREFIX", "TaskqSettings", "load_settings"]

#: Prefix of the environment variables that override settings (``TASKQ_BROKER_URL``...).
ENV_PREFIX = "TASKQ_"
#: The table of ``pyproject.toml`` that holds taskq's settings.
PYPROJECT_TABLE = ("tool", "taskq")

#: What ``Taskq.from_config`` reads: a ``.toml`` path, a mapping, a settings object, or
#: ``None`` for the nearest ``pyproject.toml``.
ConfigSource = str | os.PathLike[str] | Mapping[str, Any] | object | None


class TaskqSettings(BaseSettings):
    """The settings of an app: the keyword arguments of :class:`~taskq_core.Taskq`.

    Each field is also read from ``TASKQ_<FIELD>`` (``TASKQ_BROKER_URL``,
    ``TASKQ_QUEUE_LIMITS='{"reports": 2}'``: mappings as JSON), which wins over the source.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    broker_url: str | None = Field(
        default=None, description="Broker URL; none: memory://, as Taskq() without one."
    )
    default_queue: str = "default"
    routes: dict[str, str] = Field(default_factory=dict)
    result_ttl: float = DEFAULT_RESULT_TTL
    ignore_results: bool = False
    queue_limits: dict[str, int] = Field(default_factory=dict)
    max_message_bytes: int | None = DEFAULT_MAX_MESSAGE_BYTES

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment first: ``TASKQ_*`` variables override the file or object's values."""
        return env_settings, init_settings

    def app_options(self) -> dict[str, Any]:
        """Keyword arguments for ``Taskq(...)``."""
        options = self.model_dump()
        options["broker"] = options.pop("broker_url")
        return options


def load_settings(source: ConfigSource = None) -> TaskqSettings:
    """Read settings from ``source`` (see :data:`ConfigSource`), then the environment.

    Raises:
        ConfigurationError: an unknown setting, a value of the wrong type, or a file that
            cannot be read; one line naming the setting and where it came from.
    """
    values, where = _values_of(source)
    try:
        return TaskqSettings(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = ".".join(str(part) for part in error["loc"]) or "?"
        if error["type"] == "extra_forbidden":
            known = ", ".join(TaskqSettings.model_fields)
            raise ConfigurationError(
                f"unknown taskq setting {name!r} in {where} (known: {known})"
            ) from None
        env_name = f"{ENV_PREFIX}{str(error['loc'][0]).upper()}" if error["loc"] else ""
        if env_name in os.environ:  # the environment overrides the source: it is the culprit
            where = f"${env_name}"
        raise ConfigurationError(f"taskq setting {name} in {where}: {error['msg']}") from None


def _values_of(source: ConfigSource) -> tuple[dict[str, Any], str]:
    """The raw values of ``source`` and a description of where they came from."""
    if source is None:
        found = find_pyproject(Path.cwd())
        return ({}, "the environment") if found is None else _read_toml(found)
    if isinstance(source, str | os.PathLike):
        return _read_toml(Path(source))
    if isinstance(source, Mapping):
        return dict(source), "the settings mapping"
    prefix = ENV_PREFIX
    values = {
        name[len(prefix) :].lower(): getattr(source, name)
        for name in dir(source)
        if name.startswith(prefix) and name.isupper()
    }
    return values, f"settings {prefix}* of {type(source).__name__}"


def find_pyproject(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` in ``start`` or a parent directory."""
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def _read_toml(path: Path) -> tuple[dict[str, Any], str]:
    """The ``[tool.taskq]`` table of a TOML file (empty when it has none)."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"cannot read taskq settings from {path}: {exc}") from None
    table: Any = document
    for key in PYPROJECT_TABLE:
        table = table.get(key, {}) if isinstance(table, dict) else {}
    if not isinstance(table, dict):
        raise ConfigurationError(f"[tool.taskq] in {path} must be a table")
    return table, f"{path} [tool.taskq]"

"""The chord index's limits, written twice (Python for the memory backend, Lua for Redis)."""

from __future__ import annotations

import re

import pytest

from taskq_core.capabilities.chord_index import FAILED_KEPT, INDEX_RETENTION
from taskq_redis.scripts import lua_source


@pytest.mark.parametrize("script", ["flow", "chords"])
def test_lua_retention_is_the_python_one(script: str) -> None:
    found = re.search(r"local CHORD_INDEX_RETENTION = (\d+)", lua_source(script))
    assert found is not None
    assert float(found.group(1)) == INDEX_RETENTION


def test_lua_failed_kept_is_the_python_one() -> None:
    found = re.search(r"local CHORD_FAILED_KEPT = (\d+)", lua_source("flow"))
    assert found is not None
    assert int(found.group(1)) == FAILED_KEPT

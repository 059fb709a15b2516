"""Each script carries the lib.lua definitions it needs, and only those."""

from __future__ import annotations

import re

import pytest
import redis

from taskq_redis.scriptlib import with_library
from taskq_redis.scripts import SCRIPT_NAMES, lua_source, script_body

LIBRARY = """--[[ header ]]
local unpack = unpack or table.unpack
local CHUNK = 1000

local function fmt(x)
  return string.format('%.17g', x)
end

-- uses fmt
local function stamp(x)
  return fmt(x) .. '!'
end

local function unused(key)
  return redis.call('GET', key)
end
"""


def defined(body: str) -> set[str]:
    return set(re.findall(r"^local (?:function )?(\w+)", body, flags=re.M))


def test_a_script_gets_what_it_calls_and_what_that_calls_in_library_order() -> None:
    body = with_library(LIBRARY, "return stamp(1) -- not unused(), only in a comment")

    assert defined(body) == {"fmt", "stamp"}
    assert body.index("function fmt") < body.index("function stamp")
    assert body.startswith("--[[ header ]]")
    assert body.endswith("return stamp(1) -- not unused(), only in a comment")


def test_a_script_that_calls_nothing_gets_no_definition() -> None:
    assert defined(with_library(LIBRARY, "return 1")) == set()


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_every_library_name_a_script_body_mentions_is_defined_in_it(name: str) -> None:
    library_names = defined(lua_source("lib"))
    body = script_body(name)
    code = re.sub(r"--[^\n]*", "", re.sub(r"--\[\[.*?\]\]", "", body, flags=re.S))
    mentioned = set(re.findall(r"[A-Za-z_]\w*", code)) & library_names
    assert mentioned <= defined(body), f"{name}: {mentioned - defined(body)} not carried"
    assert len(body) < len(lua_source("lib")) + len(lua_source(name))


@pytest.mark.redis
def test_every_script_body_compiles_on_a_real_server(real_client: redis.Redis) -> None:
    for name in SCRIPT_NAMES:
        real_client.script_load(script_body(name))

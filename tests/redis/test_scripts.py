"""The Lua scripts: documented, disciplined, shipped in the wheel, and reloaded after a flush."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import redis

from taskq_core.clock import FakeClock
from taskq_core.schemas import Message
from taskq_redis import RedisBroker
from taskq_redis.scripts import SCRIPT_NAMES, lua_source, script_body

DISTRIBUTION = Path(__file__).parents[2] / "taskq_redis"


def header(name: str) -> str:
    source = lua_source(name)
    assert source.startswith("--[["), f"{name}.lua must open with its header comment"
    return source[: source.index("]]")]


def code(name: str) -> str:
    """The script without comments."""
    source = lua_source(name)
    source = re.sub(r"--\[\[.*?\]\]", "", source, flags=re.S)
    return re.sub(r"--[^\n]*", "", source)


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_each_script_header_documents_keys_argv_effects_and_returns(name: str) -> None:
    text = header(name)
    for section in ("KEYS", "ARGV", "EFFECTS", "RETURNS"):
        assert re.search(rf"^{section}$", text, flags=re.M), f"{name}.lua: no {section} section"


@pytest.mark.parametrize("name", [*SCRIPT_NAMES, "lib"])
def test_scripts_never_build_key_names_scan_or_loop_unbounded(name: str) -> None:
    body = code(name)
    assert not re.search(r"KEYS\[[^\]]+\]\s*\.\.", body), "a key name built in Lua"
    assert not re.search(r"redis\.call\(\s*'(KEYS|SCAN|HGETALL|SMEMBERS)'", body, flags=re.I)
    assert "while " not in body, "only bounded for loops"


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_every_script_compiles(name: str, fake_client: redis.Redis) -> None:
    assert fake_client.script_load(script_body(name))


def test_the_wheel_ships_every_lua_file(tmp_path: Path) -> None:
    # When the distribution is built as a wheel
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path)],
        cwd=DISTRIBUTION,
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("taskq_redis-*.whl")
    # Then it holds every script, the shared library and the typing marker
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"taskq_redis/lua/{name}.lua" for name in (*SCRIPT_NAMES, "lib")}
    assert expected <= names
    assert "taskq_redis/py.typed" in names


def flush_scripts_between_calls(client: redis.Redis, prefix: str) -> None:
    # Given scripts loaded by a first round of calls
    clock = FakeClock()
    broker = RedisBroker(client, prefix=prefix, clock=clock)
    first = Message.build(task="t", queue="jobs")
    assert broker.send(first)
    # When the server forgets them (restart, failover, SCRIPT FLUSH)
    client.script_flush()
    # Then single calls reload transparently
    second = Message.build(task="t", queue="jobs")
    assert broker.send(second)
    client.script_flush()
    # And so do pipelines
    assert (
        broker.send_batch([Message.build(task="t", queue="jobs") for _ in range(3)]) == [True] * 3
    )
    client.script_flush()
    got = broker.reserve(["jobs"], worker_id="w", lease=5.0, limit=10)
    assert [delivery.id for delivery in got][:2] == [first.id, second.id]
    client.script_flush()
    assert broker.extend_lease(got, lease=5.0) == [True] * 5


def test_noscript_after_script_flush_reloads_transparently_on_fakeredis(
    fake_client: redis.Redis, prefix: str
) -> None:
    flush_scripts_between_calls(fake_client, prefix)


@pytest.mark.redis
def test_noscript_after_script_flush_reloads_transparently_on_redis(
    private_redis_url: str, prefix: str
) -> None:
    # (a private server: SCRIPT FLUSH would disturb anyone sharing the dev server)
    client = redis.Redis.from_url(private_redis_url)
    flush_scripts_between_calls(client, prefix)
    client.close()

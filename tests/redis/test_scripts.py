"""The Lua scripts: documented, disciplined, shipped in the wheel, and reloaded after a flush."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from hashlib import sha1
from pathlib import Path

import pytest
import redis

from taskq_core.clock import FakeClock
from taskq_core.schemas import Message, TaskResult
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


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_each_script_defines_every_lib_helper_it_uses_before_using_it(name: str) -> None:
    # A script carries only the lib.lua helpers it uses (Redis runs every definition on every
    # call); a helper left out would be a nil global at run time, on the path that needs it.
    lib = re.sub(r"--[^\n]*", "", re.sub(r"--\[\[.*?\]\]", "", lua_source("lib"), flags=re.S))
    defined_in_lib = re.findall(r"^local (?:function )?([A-Za-z_]\w*)", lib, flags=re.M)
    assert len(defined_in_lib) > 30
    body = script_body(name)
    stripped = re.sub(r"--[^\n]*", "", re.sub(r"--\[\[.*?\]\]", "", body, flags=re.S))
    stripped = re.sub(r"'[^'\n]*'", "''", stripped)  # string contents are not names
    for helper in defined_in_lib:
        uses = [m.start() for m in re.finditer(rf"\b{helper}\b", stripped)]
        if not uses:
            continue
        definition = re.search(rf"^local (?:function )?{helper}\b", stripped, flags=re.M)
        assert definition is not None, f"{name}.lua uses {helper} without its definition"
        assert definition.start() <= uses[0], f"{name}.lua uses {helper} before defining it"
    assert len(body) < len(lua_source("lib")) + len(lua_source(name)), "lib.lua sent whole"


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
    client.script_flush()
    # And settlements with a result, two scripts in one pipeline
    result = TaskResult(id=got[0].id, status="SUCCESS", value=1)
    assert broker.ack(got[0], result=result)
    assert broker.get_result(got[0].id) == result


def test_a_pipeline_resends_only_the_calls_that_met_noscript(
    fake_client: redis.Redis, prefix: str, pipeline_sizes: list[int]
) -> None:
    # Given a held delivery, and a script cache that has store_result.lua but lost ack.lua
    broker = RedisBroker(fake_client, prefix=prefix, clock=FakeClock())
    broker.send(Message.build(task="t", queue="jobs"))
    (held,) = broker.reserve(["jobs"], worker_id="w", lease=5.0)
    fake_client.script_flush()
    fake_client.script_load(script_body("store_result"))
    pipeline_sizes.clear()
    # When it is acked with a result (store_result runs, ack meets NOSCRIPT)
    result = TaskResult(id=held.id, status="SUCCESS", value=1)
    acked = broker.ack(held, result=result)
    # Then the ack alone was sent again, and ran once: it succeeded (a second run would be fenced)
    assert pipeline_sizes == [2, 1]
    assert acked is True
    assert broker.get_result(held.id) == result
    assert broker.counts("jobs").processing == 0


def test_a_script_error_in_a_pipeline_is_raised_once_every_reply_is_read(
    fake_client: redis.Redis, prefix: str
) -> None:
    broker = RedisBroker(fake_client, prefix=prefix)
    keys = broker._store.keys("jobs")
    promote_keys = [keys.scheduled, keys.state, keys.marker, *keys.ready]

    runner = broker._store.redis
    promote = runner.script("promote", promote_keys, ["", 0])  # limit 0: refused
    with pytest.raises(redis.ResponseError, match="promote needs limit"):
        runner.batch([promote, ("PING",)])
    assert fake_client.ping()  # the connection is still in step


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


def test_reserve_without_lmpop_takes_each_priority_level_in_turn(
    fake_client: redis.Redis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a server without LMPOP (Redis 6.2), played by a reserve.lua whose LMPOP call fails
    from taskq_redis import scripts

    body = script_body("reserve")
    assert "'LMPOP'" in body
    monkeypatch.setitem(
        scripts.__dict__,
        "script_body",
        lambda name: (
            body.replace("'LMPOP'", "'NOSUCHCMD'") if name == "reserve" else script_body(name)
        ),
    )
    broker = RedisBroker(fake_client, prefix=prefix, clock=FakeClock())
    assert broker._store.redis.scripts.sha("reserve") != sha1(body.encode()).hexdigest()
    # And messages at three priority levels
    sent = [Message.build(task="t", queue="jobs", priority=p, args=(p,)) for p in (0, 5, 9, 5, 0)]
    assert all(broker.send_batch(sent))
    # When a worker reserves them in two batches
    first = broker.reserve(["jobs"], worker_id="w", lease=30.0, limit=3)
    second = broker.reserve(["jobs"], worker_id="w", lease=30.0, limit=3)
    # Then the fallback (one LPOP per level) hands them out highest priority first, FIFO within
    assert [d.message.priority for d in first + second] == [9, 5, 5, 0, 0]
    assert [d.id for d in first + second] == [
        m.id for m in (sent[2], sent[1], sent[3], sent[0], sent[4])
    ]

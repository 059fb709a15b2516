"""An idle worker is quiet: it blocks for work instead of polling Redis.

DESIGN.md §5 ("an idle system sends almost no commands"); research/redis-design.md §4 case 10.
This is the one crash test where a time window is the thing measured.

What is counted: the commands the worker process sends, seen through ``MONITOR``. ``INFO
commandstats`` (after ``CONFIG RESETSTAT``) does not tell them apart on Redis 7: it also counts
every command a script runs, and one reserve script runs some twenty LPOP/LLEN.

The budget, per activity of a worker with the default timings (``Worker`` defaults: heartbeat
5 s, schedule poll 5 s, reaper 10 s, blocking reserve chunks of 5 s; timers jittered +-10 %):

================  ========  ==========================================================
activity          interval  commands per tick
================  ========  ==========================================================
blocking reserve  5 s       one reserve script, one BZPOPMIN
heartbeat         5 s       one pipeline: SADD worker_queues + heartbeat script, plus the
                            SCRIPT EXISTS redis-py sends ahead of any pipeline with scripts
schedule poll     5 s       one promote script
reaper            10 s      expire_workers + recover_expired scripts
================  ========  ==========================================================

That is 2/5 + 3/5 + 1/5 + 2/10 = 1.4 commands per second in the long run: "about one per
second", at most 1.5. A window sees one or two ticks of each timer depending on their phases,
so the long-run rate is computed from the measured cost of one tick of each activity (its
commands divided by its ticks), not from the raw count of a window. The window is 12 s so
that every timer, the reaper too, ticks at least once in it.
"""

from __future__ import annotations

import collections
import hashlib
import math
import re
import socket
import time

import pytest

from taskq_core.worker.upkeep import TIMER_JITTER
from taskq_redis.scripts import SCRIPT_NAMES, script_body

from ..support.redis_server import RedisServer, redis_server_binary
from .harness import Crash

pytestmark = [pytest.mark.redis, pytest.mark.slow]

#: Seconds of idleness measured: more than the longest timer interval, jitter included.
WINDOW = 12.0
#: Long-run commands per second an idle worker may send.
IDLE_RATE_BUDGET = 1.5
#: activity -> (seconds between ticks with the Worker defaults, the command that marks a tick).
ACTIVITIES = {
    "blocking reserve": (5.0, "bzpopmin"),
    "heartbeat": (5.0, "heartbeat"),
    "schedule poll": (5.0, "promote"),
    "reaper": (10.0, "recover_expired"),
}
#: The activity each command an idle worker may send belongs to (scripts by file name).
ACTIVITY_OF = {
    "reserve": "blocking reserve",
    "bzpopmin": "blocking reserve",
    "heartbeat": "heartbeat",
    "sadd": "heartbeat",
    "script exists": "heartbeat",
    "promote": "schedule poll",
    "expire_workers": "reaper",
    "recover_expired": "reaper",
}
#: Scripts whose first run shows a timer has ticked once (each is loaded on its first call).
FIRST_TICKS = {"heartbeat", "promote", "expire_workers", "recover_expired"}
SCRIPT_BY_SHA = {
    hashlib.sha1(script_body(name).encode()).hexdigest(): name for name in SCRIPT_NAMES
}
#: ``+<time> [<db> <client>] "<command>" "<first argument>" ...``: one line per command.
MONITOR_LINE = re.compile(
    r'^\+[\d.]+ \[\d+ (?P<client>[^\]]+)\] "(?P<cmd>[^"]*)"(?: "(?P<arg>[^"]*)")?'
)


def watch_commands(port: int, seconds: float) -> list[str]:
    """What clients sent (not what scripts ran) during ``seconds``, by MONITOR, in order."""
    raw = b""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"MONITOR\r\n")
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            raw += chunk
    seen = []
    for line in raw.decode(errors="replace").split("\r\n"):
        match = MONITOR_LINE.match(line)
        if match is None or match["client"] == "lua":
            continue
        command, argument = match["cmd"].lower(), (match["arg"] or "").lower()
        if command == "evalsha":
            seen.append(SCRIPT_BY_SHA.get(argument, f"evalsha {argument}"))
        elif command == "script":
            seen.append(f"script {argument}")
        else:
            seen.append(command)
    return seen


def most_ticks(window: float, interval: float) -> int:
    """The most ticks of a jittered timer (or blocking chunks) one window can hold."""
    return math.floor(window / (interval * (1 - TIMER_JITTER))) + 1


@pytest.fixture(scope="module")
def idle_commands(tmp_path_factory: pytest.TempPathFactory):
    """What one worker with the default timings sends in WINDOW idle seconds, in order."""
    directory = tmp_path_factory.mktemp("idle")
    server = RedisServer(redis_server_binary(), directory)
    server.start()
    crash = Crash(server, "idle", directory)
    try:
        # Given one worker with the default timings on a server nobody else uses
        crash.start_worker(fast=False)
        crash.wait_until(
            lambda: any(
                c["cmd"] == "bzpopmin" and "b" in c["flags"] for c in crash.redis.client_list()
            ),
            what="the worker blocks waiting for work",
        )
        # and every timer ran once: start-up (connections, script loads) is not idleness
        first_ticks = [sha for sha, name in SCRIPT_BY_SHA.items() if name in FIRST_TICKS]
        crash.wait_until(
            lambda: all(crash.redis.script_exists(*first_ticks)),
            what="the heartbeat, schedule poll and reaper ran once",
        )
        # When it has nothing to do for WINDOW seconds
        yield watch_commands(server.port, WINDOW)
    finally:
        crash.close()
        server.stop()


def test_idle_worker_only_blocks_heartbeats_polls_and_reaps(idle_commands):
    # Then every command it sent belongs to one of its four activities, no activity ticked
    # more often than its interval allows (a reserve loop that spins shows up here), and it
    # kept waiting for work
    ticks = collections.Counter(idle_commands)
    for command in idle_commands:
        assert command in ACTIVITY_OF, f"unexpected {command!r} while idle: {idle_commands}"
    for activity, (interval, tick) in ACTIVITIES.items():
        assert 1 <= ticks[tick] <= most_ticks(WINDOW, interval), (activity, idle_commands)


def test_idle_worker_sends_about_one_command_per_second(idle_commands):
    # Then, at the measured cost of one tick of each activity, it sends at most about one
    # command per second in the long run
    by_activity = collections.Counter(ACTIVITY_OF.get(c, c) for c in idle_commands)
    ticks = collections.Counter(idle_commands)
    cost = {
        activity: by_activity[activity] / ticks[tick] for activity, (_, tick) in ACTIVITIES.items()
    }
    rate = sum(cost[activity] / interval for activity, (interval, _) in ACTIVITIES.items())
    assert rate <= IDLE_RATE_BUDGET, f"{rate:.2f} commands/s; per tick: {cost}; {idle_commands}"

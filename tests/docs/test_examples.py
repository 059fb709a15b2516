"""Every example of docs/ runs, exits 0 and still prints what its page says it shows.

Each example is a subprocess (``python -m examples.<name>`` from the repository root, the way
the pages tell readers to run them), so a page whose example rots fails here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: Wall-clock bound on one example; each finishes in a few seconds when nothing is broken.
EXAMPLE_TIMEOUT = 60.0

#: Example module -> what its output must contain: text, or a pattern where timings vary.
EXPECTED: dict[str, list[str | re.Pattern[str]]] = {
    "async_producer": [
        "await add.adelay(2, 3) -> aget() -> 5",
        "adelay_many + gather: ['title of a.example', 'title of b.example', 'title of c.example']",
        "aapply_async(task_id=...) twice: duplicate=True",
        "countdown=0.2 -> 30",
        "divide -> TaskError: ZeroDivisionError: division by zero",
        "add.adelay(1) -> SignatureMismatch: cannot send 'examples.async_producer.add': "
        "missing a required argument: 'y' (it takes add(x, y))",
        "after aforget(): aget(timeout=0.1) raised ResultTimeout",
        "the loop kept running while it waited: True",
    ],
    "results": [
        "before any worker: status=PENDING ready=False",
        "add.get() -> 5",
        "status=SUCCESS ready=True successful=True",
        "app.AsyncResult(id).get() -> 5",
        "divide.get() raised TaskError: ZeroDivisionError: division by zero",
        "  exc_type=ZeroDivisionError message='division by zero'",
        "  traceback ends with: ZeroDivisionError: division by zero",
        "get(propagate=False) returns TaskError; failed=True",
        "non-JSON return value -> SerializationError",
        "ignore_result=True: get(timeout=0.5) raised ResultTimeout; PENDING",
        "ResultTimeout: no result for <id> within 0.1s",
        "waiting longer -> done",
        "after forget(): status=PENDING",
        "short_lived -> gone soon",
        "0.6 s later: status=PENDING",
    ],
    "revoke_and_expiry": [
        "revoke queued: revoked",
        re.compile(r"queued\.get\(\) raised TaskRevoked: task \S+ was revoked; status=REVOKED"),
        re.compile(r"late\.get\(\) raised TaskExpired: task \S+ expired before it started"),
        "timely.get() -> fresh quote",
        "revoke running with terminate: running",
        "running task stopped; status=REVOKED",
        "counts: expired=1 revoked=2",
    ],
    "priorities_and_routing": [
        "reports.monthly -> reports",
        "reports.digest  -> emails",
        "media.resize    -> images",
        "jobs.step       -> default",
        "apply_async(queue='urgent') -> urgent",
        "priority order: ['p9-1', 'p9-4', 'p5-2', 'p5-5', 'p0-0', 'p0-3']",
        "fair -Q high,low: ['high0', 'low0', 'high1', 'low1', 'high2', 'low2', 'high3',",
        "strict -Q high,low: ['high0', 'high1', 'high2', 'high3', 'high4', 'low0',",
        "first 10 by queue: {'high': 6, 'default': 3, 'low': 1}",
    ],
    "concurrency": [
        # in parallel: under the 2 s that one call after the other would take (slack for busy CI)
        re.compile(r"threads: 4 calls of 0\.5 s in (0\.[5-9]|1\.\d)s on 4 threads"),
        re.compile(r"async: 4 calls of 0\.5 s in (0\.[5-9]|1\.\d)s, all on \['taskq-asyncio'\]"),
        "solo: ran on taskq-consumer",
        "processes: parent ",
        "not among children: True",
        re.compile(
            r"threads, Python loop: TimeLimitExceeded: time limit exceeded after (0\.[3-9]|1\.\d)s"
        ),
        # the exception waits for the blocking call to return
        re.compile(r"threads, time\.sleep\(1\.0\): TimeLimitExceeded: .* after [12]\.\ds"),
        re.compile(
            r"async: TimeLimitExceeded: time limit \(0\.3s\) exceeded; cancelled"
            r" after (0\.[3-9]|1\.\d)s"
        ),
        re.compile(
            r"processes, time\.sleep\(10\): TimeLimitExceeded: .* killed after (0\.[3-9]|1\.\d)s"
        ),
        "soft_time_limit: cleaned up after the soft limit",
        "child died twice (max_deliveries=2): LeaseExpired:",
        "DEAD reason: lease lost 2 times (max_deliveries=2)",
    ],
    "periodic": [
        re.compile(r"3 workers with schedulers, \d+ ticks: each ran once: True"),
        "ticks on whole seconds: True",
        "schedules: ['examples.periodic.heartbeat every=1s', "
        "'examples.periodic.morning_report cron=0 9 * * 1-5 tz=Europe/Paris args=",
        "after an hour offline: 1 catch-up run, for the latest tick",
        "30 2 * * * Europe/Paris -> 2026-03-29T03:00:00+02:00",
        "30 2 * * * Europe/Paris -> 2026-03-30T02:30:00+02:00",
        "{'cron': '61 * * * *'} -> ConfigurationError: invalid cron expression '61 * * * *'",
        "-> ConfigurationError: unknown timezone 'Europe/Pariss' (use an IANA name)",
    ],
    "unique_and_pause": [
        "same call twice: same id True, duplicate=True",
        "another user: duplicate=False",
        "unique_key on a call: duplicate=True",
        "after it succeeded: the key is free, a new call is sent",
        "ttl: second call within 60 s: duplicate=True",
        "ttl: after 60 s: duplicate=False",
        "paused: True",
        "while paused: reports ran, digests ran []",
        "emails still ready: 2",
        "after resume: digest 1 and digest 2 ran",
    ],
    "rate_limits": [
        re.compile(r"ping while 12 limited calls wait: pong after 0\.[0-4]s"),
        "waiting in SCHEDULED",
        "12 calls at 5/s over 2 workers: started at about 0 s, 1 s, 2 s: [5, 5, 2]",
        "retries used 0",
        "exports: 10 calls, 8 slots, queue_limits=2 -> at most 2 at once",
    ],
    "retries": [
        "flaky backoff caps (full jitter draws 0..cap): [0.1, 0.2, 0.4, 0.8]",
        "default caps before retries 1, 2, 3, 10, 11: [1.0, 2.0, 4.0, 512.0, 600.0]",
        "flaky -> 'ok' after 3 attempts",
        "poll_job -> 'job finished' after 3 attempts",
        "parse -> TaskError(ValueError: invalid literal for int() with base 10: 'x') after 1",
        "lookup -> TaskError(KeyError: 'b') after 1 attempt",
        "charge(max_retries=0) -> TaskError(RuntimeError: payment API rejected order 7) after 1",
        "charge -> TaskError(RuntimeError: payment API rejected order 42) after 3 attempts",
        "  reason='retries exhausted (2): RuntimeError: payment API rejected order 42'",
        "  retries=2 deliveries=3",
        "  last_error='RuntimeError: payment API rejected order 42'",
        "fixed, forgot the old result, requeued 1: charge -> 'charged order 42'",
        "purged 3 dead message(s)",
    ],
    "workflows": [
        "chain(add.s(2, 2), mul.s(4), add.s(1)) -> 17",
        "walking .parent back: [17, 16, 4]",
        "add.s(1, 1) | mul.s(10) | add.si(5, 5) -> 10",
        "group of 10 -> [0, 1, 4, 9, 16, 25, 36, 49, 64, 81] completed=10",
        "map-reduce over 1000 lines -> {'taskq': 2000, 'chord': 1000, 'line': 1000}",
        "merge_counts ran 1 time(s)",
        "chain(group(add.s(i, i) ...), total.s()) -> 20",
        "link: notify(42, 'ops')",
        "chord failed: WorkflowError: member fetch failed -> callback not run",
        "link_error ran once, with the dead member's id: True",
        "fixed page 3, requeued 1: chord -> 100",
        "progress: {'current': 500, 'total': 1000, 'meta': {'stage': 'halfway'}} status=STARTED",
        "crunch -> 'crunched 1000 items as True'",
    ],
    "hooks": [
        "before_send vetoed: examples.hooks.send_newsletter is paused",
        "add -> 5 (a broken plugin did not undo the ack)",
        "flaky -> second time lucky",
        "broken -> KeyError: 'missing'",
        "after_send               x3  on thread MainThread",
        re.compile(r"task_dead\s+x1\s+on thread taskq-w1-exec-\d"),
        re.compile(r"task_retried\s+x1\s+on thread taskq-w1-exec-\d"),
        re.compile(r"task_started\s+x4\s+on thread taskq-w1-exec-\d"),
        re.compile(r"task_succeeded\s+x2\s+on thread taskq-w1-exec-\d"),
        "on thread taskq-heartbeat",
        "worker_started           x1  on thread MainThread",
        "worker_stopping(stop())  x1  on thread MainThread",
        "runtimes of the 2 successes recorded: 2",
        "'flaky raised ConnectionError'",
    ],
}


def test_every_example_is_tested() -> None:
    # Given the examples directory, I expect each script in it to have expectations here
    scripts = {p.stem for p in (ROOT / "examples").glob("*.py") if p.stem != "__init__"}
    assert scripts == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs_and_prints_what_its_page_says(name: str) -> None:
    # Given an environment without taskq settings (the examples name their broker themselves)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKQ_")}
    # When the example runs the way its page says
    done = subprocess.run(
        [sys.executable, "-m", f"examples.{name}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=EXAMPLE_TIMEOUT,
        check=False,
    )
    # Then it exits 0 and prints every expected line
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    missing = [
        str(want)
        for want in EXPECTED[name]
        if (
            want.search(done.stdout) is None
            if isinstance(want, re.Pattern)
            else want not in done.stdout
        )
    ]
    assert not missing, f"missing {missing} in output:\n{done.stdout}\n--- stderr\n{done.stderr}"

"""taskq against Celery, Dramatiq, RQ, Huey and taskiq on one local redis-server.

Run with the project's virtualenv, from anywhere::

    .venv/bin/python bench/run.py                 # N=20000, 3 repeats, every library
    .venv/bin/python bench/run.py --quick         # smoke run: N=2000, 1 repeat, few probes
    .venv/bin/python bench/run.py --only taskq,huey --n 5000
    .venv/bin/python bench/run.py --only taskq --taskq-configs "default;pool=solo,prefetch=64"

The peers live in ``bench/.peers-venv`` (``--setup-peers`` creates it from
``requirements-peers.txt``). Every step runs in its own process (``bench/peers/scenario.py``);
this script only starts redis-server and the processes, reads Redis' INFO and prints one
markdown table. See ``bench/README.md`` for what each number means.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis
from sends import interleaved, report

BENCH = Path(__file__).resolve().parent
PEERS_DIR = BENCH / "peers"
PEERS_VENV = BENCH / ".peers-venv"
PEERS_PYTHON = PEERS_VENV / "bin" / "python"
sys.path.insert(0, str(PEERS_DIR))
from common import BODIES, Receiver  # noqa: E402

LIBS = ["taskq", "celery", "dramatiq", "rq", "huey", "taskiq"]
#: Commands issued by this harness itself, never counted.
HARNESS_COMMANDS = {"info", "config|resetstat", "flushall", "dbsize", "echo"}
#: Warm-up round trips before the measured ones (their results count in the memory column).
ROUNDTRIP_WARMUP = 5
TASKQ_BEST_DEFAULT = "pool=solo,prefetch=32;pool=threads,c=8,prefetch=128"


# -- processes ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    exe = shutil.which("redis-server")
    if exe is None:
        sys.exit("redis-server not found on PATH (apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen(
        [
            *(exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"),
            *("no", "--dir", str(workdir), "--daemonize", "no", "--loglevel", "warning"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        for _ in range(100):
            with contextlib.suppress(redis.ConnectionError):
                client.ping()
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("redis-server did not start")
        yield url, proc
    finally:
        client.close()
        proc.terminate()
        proc.wait(10)


def python_for(lib: str) -> str:
    return sys.executable if lib == "taskq" else str(PEERS_PYTHON)


def step_env(url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(PEERS_DIR), env.get("PYTHONPATH", "")]).rstrip(":")
    env["BENCH_REDIS_URL"] = url
    for key in ("BENCH_DRAIN_N", "BENCH_RESULTS", "BENCH_REPORT_ADDR"):
        env.pop(key, None)
    env.update(extra)
    return env


def run_step(lib: str, url: str, step: str, *args: str, timeout: float = 900, **env) -> dict:
    """Run one producer step to completion and return its JSON."""
    cmd = [python_for(lib), str(PEERS_DIR / "scenario.py"), lib, step, *args]
    proc = subprocess.run(
        cmd, env=step_env(url, **env), capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        return {"error": f"{step} exited {proc.returncode}: {proc.stderr.strip()[-2000:]}"}
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        return {"error": f"{step} printed no JSON: {proc.stdout[-500:]} {proc.stderr[-1500:]}"}


class WorkerProcess:
    """A worker OS process in its own session (so its children can be signalled with it)."""

    def __init__(self, lib: str, url: str, config: str, logdir: Path, **env: str) -> None:
        self.log_path = logdir / f"worker-{lib}-{int(time.time() * 1000)}.log"
        self.log = self.log_path.open("w")
        cmd = [python_for(lib), str(PEERS_DIR / "scenario.py"), lib, "worker", "--config", config]
        self.spawned_ns = time.monotonic_ns()
        self.proc = subprocess.Popen(
            cmd,
            env=step_env(url, **env),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self) -> str:
        self.log.flush()
        return self.log_path.read_text()[-2000:]

    def stop(self) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        # children that outlived their parent (e.g. a supervisor-less fork) go too
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()


# -- Redis INFO ------------------------------------------------------------------------------


def reset_stats(client: redis.Redis) -> dict[str, float]:
    client.config_resetstat()
    return cpu_snapshot(client)


def cpu_snapshot(client: redis.Redis) -> dict[str, float]:
    info = client.info("cpu")
    return {"cpu": float(info["used_cpu_user"]) + float(info["used_cpu_sys"])}


def command_counts(client: redis.Redis) -> dict[str, int]:
    stats = client.info("commandstats")
    counts = {}
    for key, value in stats.items():
        name = key.removeprefix("cmdstat_")
        if name not in HARNESS_COMMANDS:
            counts[name] = int(value["calls"])
    return counts


def phase_stats(client: redis.Redis, before: dict[str, float], n: int) -> dict:
    counts = command_counts(client)
    cpu = cpu_snapshot(client)["cpu"] - before["cpu"]
    return {
        "cmds_per_task": sum(counts.values()) / n,
        "redis_cpu_us_per_task": cpu * 1e6 / n,
        "commands": {k: v / n for k, v in sorted(counts.items(), key=lambda kv: -kv[1])},
    }


# -- one library ---------------------------------------------------------------------------


@dataclass
class Options:
    n: int
    repeats: int
    latency_samples: int
    latency_warmup: int
    gap_ms: float
    roundtrip_samples: int
    logdir: Path


@dataclass
class LibResult:
    lib: str
    info: dict
    configs: list[str]
    runs: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def drain(lib: str, url: str, client: redis.Redis, config: str, opts: Options) -> dict:
    """Start a worker on N queued no-ops and wait for its report of the N-th end."""
    receiver = Receiver()
    before = reset_stats(client)
    worker = WorkerProcess(
        lib, url, config, opts.logdir, BENCH_DRAIN_N=str(opts.n), BENCH_REPORT_ADDR=receiver.addr
    )
    try:
        deadline = time.monotonic() + max(120.0, opts.n / 50)
        report = None
        while report is None and time.monotonic() < deadline:
            report = receiver.get(1.0)
            if report is None and not worker.alive():
                return {"error": f"{lib} worker exited early:\n{worker.tail()}"}
        if report is None:
            return {"error": f"{lib} worker did not finish {opts.n} tasks:\n{worker.tail()}"}
        stats = phase_stats(client, before, opts.n)
        left = queued_left(client)
    finally:
        worker.stop()
        receiver.close()
    seconds = (report["last_end_ns"] - report["first_start_ns"]) / 1e9
    return {
        "rate": opts.n / seconds,
        "seconds": seconds,
        "boot_s": (report["first_start_ns"] - worker.spawned_ns) / 1e9,
        "worker_cpu_us_per_task": report["cpu_ns"] / 1e3 / opts.n,
        "worker_cpu_share": report["cpu_ns"] / 1e9 / seconds,
        "keys_left": left,
        **stats,
    }


class MonitorCounter:
    """Counts the commands clients send (MONITOR lines not issued from inside Lua).

    Reads MONITOR on a raw socket in a thread; ``stop()`` sends an ECHO marker and reads up to
    it, so every command before the marker is counted. MONITOR slows Redis down, so this runs
    as its own small, untimed pass.
    """

    SKIP = frozenset({"info", "config|resetstat", "flushall", "echo"})

    def __init__(self, url: str) -> None:
        host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
        self.sock = socket.create_connection((host, int(port)))
        self.sock.sendall(b"MONITOR\r\n")
        self.file = self.sock.makefile("rb")
        self.file.readline()  # +OK
        self.client_cmds = 0
        self.lua_cmds = 0
        self.by_name: dict[str, int] = {}
        self.marker = f"bench-mark-{os.getpid()}-{time.monotonic_ns()}"
        self.done = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        for raw in self.file:
            line = raw.decode("utf-8", "replace").strip()
            if self.marker in line:
                break
            head, _, rest = line.partition("] ")
            words = rest.split(" ", 2)
            name = words[0].strip('"').lower()
            if name in ("script", "client", "config", "xgroup") and len(words) > 1:
                name += "|" + words[1].strip('"').lower()
            if " lua" in head:
                self.lua_cmds += 1
            elif name not in self.SKIP:
                self.client_cmds += 1
                self.by_name[name] = self.by_name.get(name, 0) + 1
        self.done = True

    def stop(self, client: redis.Redis) -> dict:
        client.echo(self.marker)
        self.thread.join(30)
        self.sock.close()
        return {"client": self.client_cmds, "lua": self.lua_cmds, "by_name": self.by_name}


def monitor_pass(res: LibResult, url: str, client: redis.Redis, config: str, opts: Options) -> dict:
    """Client-sent commands per task for the send path and the drain, with MONITOR on."""
    n = min(opts.n, 1000)
    small = Options(**{**opts.__dict__, "n": n})
    client.flushall()
    mon = MonitorCounter(url)
    sent = run_step(res.lib, url, "send", "--n", str(n))
    send_counts = mon.stop(client)
    if "error" in sent:
        return {"error": sent["error"]}
    mon = MonitorCounter(url)
    out = drain(res.lib, url, client, config, small)
    drain_counts = mon.stop(client)
    client.flushall()
    if "error" in out:
        return {"error": out["error"]}
    return {
        "n": n,
        "send_client_cmds_per_task": send_counts["client"] / n,
        "drain_client_cmds_per_task": drain_counts["client"] / n,
        "send_by_name": {k: v / n for k, v in send_counts["by_name"].items()},
        "drain_by_name": {k: v / n for k, v in drain_counts["by_name"].items()},
    }


def settle(client: redis.Redis) -> None:
    """Wait until only this harness is connected, so client buffers do not count as data."""
    for _ in range(100):
        if int(client.info("clients")["connected_clients"]) <= 1:
            return
        time.sleep(0.05)


def queued_left(client: redis.Redis) -> int:
    return int(client.dbsize())


def latency(lib: str, url: str, config: str, opts: Options) -> dict:
    port = free_port_udp()
    worker = WorkerProcess(lib, url, config, opts.logdir, BENCH_REPORT_ADDR=f"127.0.0.1:{port}")
    try:
        out = run_step(
            lib,
            url,
            "latency",
            "--samples",
            str(opts.latency_samples),
            "--warmup",
            str(opts.latency_warmup),
            "--gap-ms",
            str(opts.gap_ms),
            BENCH_REPORT_ADDR=f"127.0.0.1:{port}",
        )
        if "error" in out:
            out["error"] += "\nworker log:\n" + worker.tail()
        return out
    finally:
        worker.stop()


def roundtrip(lib: str, url: str, config: str, opts: Options) -> dict:
    worker = WorkerProcess(lib, url, config, opts.logdir, BENCH_RESULTS="1")
    try:
        out = run_step(
            lib,
            url,
            "roundtrip",
            "--samples",
            str(opts.roundtrip_samples),
            "--warmup",
            str(ROUNDTRIP_WARMUP),
            BENCH_RESULTS="1",
        )
        if "error" in out:
            out["error"] += "\nworker log:\n" + worker.tail()
        return out
    finally:
        worker.stop()


def free_port_udp() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_repeat(res: LibResult, url: str, client: redis.Redis, opts: Options, log) -> dict:
    lib, n = res.lib, opts.n
    run: dict = {"configs": {}}

    # 1. one enqueue call per task; then Redis memory and commands of the N queued tasks.
    #    Memory is what FLUSHALL of exactly those N tasks frees: allocations that outlive a
    #    flush (script cache, client buffers) are not data.
    client.flushall()
    settle(client)
    before = reset_stats(client)
    send = run_step(lib, url, "send", "--n", str(n))
    run["send"] = send
    if "error" not in send:
        run["send_stats"] = phase_stats(client, before, n)
        settle(client)
        mem1 = int(client.info("memory")["used_memory"])
        client.flushall()
        settle(client)
        mem2 = int(client.info("memory")["used_memory"])
        run["mem_bytes_per_task"] = (mem1 - mem2) / n
    log(f"  send      {fmt_rate(send)}")

    # 2. bulk enqueue (no bulk API: one call each, untimed), then drain the N queued tasks,
    #    once per worker config, refilling for each but the first
    client.flushall()
    bulk = run_step(lib, url, "bulk" if res.info["bulk_api"] else "send", "--n", str(n))
    run["bulk"] = bulk if res.info["bulk_api"] else {"na": True}
    log(f"  bulk      {fmt_rate(run['bulk'])}")
    for index, config in enumerate(res.configs):
        if index > 0 or "error" in bulk:
            client.flushall()
            refill = run_step(lib, url, "bulk" if res.info["bulk_api"] else "send", "--n", str(n))
            if "error" in refill:
                run["configs"][config] = {"drain": refill}
                continue
        out = drain(lib, url, client, config, opts)
        run["configs"][config] = {"drain": out}
        log(f"  drain     {fmt_rate(out)}  [{config}]")
    if os.environ.get("BENCH_BODY", "noop") != "noop":
        return run  # a body changes the drain only: the wake-up and send steps are noop's

    # client-sent commands (MONITOR), once per config, in the first repeat only
    if not res.runs:
        for config in res.configs:
            out = monitor_pass(res, url, client, config, opts)
            run["configs"][config]["monitor"] = out
            if "error" in out:
                log(f"  monitor   ERROR {out['error'].splitlines()[0][:200]}  [{config}]")
            else:
                log(
                    f"  monitor   client cmds/task send {out['send_client_cmds_per_task']:.2f} "
                    f"drain {out['drain_client_cmds_per_task']:.2f}  [{config}]"
                )

    # 3. idle latency, per worker config
    for config in res.configs:
        client.flushall()
        out = latency(lib, url, config, opts)
        run["configs"][config]["latency"] = out
        log(f"  latency   {fmt_ms(out)}  [{config}]")

    # 4. result round trip (the worker runs with the library's result backend enabled); then
    #    what FLUSHALL frees (the results, kept for their TTL, and the worker's own records),
    #    per round trip
    client.flushall()
    if res.info["roundtrip"]:
        run["roundtrip"] = roundtrip(lib, url, res.configs[0], opts)
        if "error" not in run["roundtrip"]:
            settle(client)
            mem1 = int(client.info("memory")["used_memory"])
            client.flushall()
            settle(client)
            mem2 = int(client.info("memory")["used_memory"])
            run["result_bytes"] = (mem1 - mem2) / (opts.roundtrip_samples + ROUNDTRIP_WARMUP)
    else:
        run["roundtrip"] = {"na": True}
    log(f"  roundtrip {fmt_ms(run['roundtrip'])}")
    client.flushall()
    return run


def fmt_rate(out: dict) -> str:
    if "error" in out:
        return "ERROR " + out["error"].splitlines()[0][:200]
    if out.get("na"):
        return "n/a"
    return f"{out['rate']:,.0f}/s"


def fmt_ms(out: dict) -> str:
    if "error" in out:
        return "ERROR " + out["error"].splitlines()[0][:200]
    if out.get("na"):
        return "n/a"
    return f"p50 {out['p50_ms']:.2f} ms  p99 {out['p99_ms']:.2f} ms"


# -- aggregation and the table -------------------------------------------------------------


def median_of(runs: list[dict], *path: str) -> float | None:
    values = []
    for run in runs:
        node = run
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
            if node is None:
                break
        if isinstance(node, int | float):
            values.append(float(node))
    return statistics.median(values) if values else None


def summarize(res: LibResult, config: str) -> dict:
    runs = res.runs
    na_bulk = not res.info["bulk_api"]
    na_rt = not res.info["roundtrip"]
    return {
        "send": median_of(runs, "send", "rate"),
        "bulk": None if na_bulk else median_of(runs, "bulk", "rate"),
        "drain": median_of(runs, "configs", config, "drain", "rate"),
        "p50": median_of(runs, "configs", config, "latency", "p50_ms"),
        "p99": median_of(runs, "configs", config, "latency", "p99_ms"),
        "rt": None if na_rt else median_of(runs, "roundtrip", "p50_ms"),
        "cmds_send": median_of(runs, "send_stats", "cmds_per_task"),
        "cmds_drain": median_of(runs, "configs", config, "drain", "cmds_per_task"),
        "mem": median_of(runs, "mem_bytes_per_task"),
        "rmem": None if na_rt else median_of(runs, "result_bytes"),
        "ccmds_send": median_of(runs, "configs", config, "monitor", "send_client_cmds_per_task"),
        "ccmds_drain": median_of(runs, "configs", config, "monitor", "drain_client_cmds_per_task"),
        "wcpu": median_of(runs, "configs", config, "drain", "worker_cpu_us_per_task"),
        "rcpu": median_of(runs, "configs", config, "drain", "redis_cpu_us_per_task"),
        "na_bulk": na_bulk,
        "na_rt": na_rt,
    }


COLUMNS = [
    # key, header, higher is better, format
    ("send", "enqueue /s", True, "{:,.0f}"),
    ("bulk", "bulk /s", True, "{:,.0f}"),
    ("drain", "drain /s", True, "{:,.0f}"),
    ("p50", "idle p50 ms", False, "{:.2f}"),
    ("p99", "idle p99 ms", False, "{:.2f}"),
    ("rt", "get() p50 ms", False, "{:.2f}"),
    ("ccmds", "client cmds/task (send+drain)", False, None),
    ("cmds", "all Redis cmds/task (send+drain)", False, None),
    ("mem", "Redis B/queued task", False, "{:,.0f}"),
    ("rmem", "Redis B/stored result", False, "{:,.0f}"),
    ("wcpu", "worker CPU µs/task", False, "{:,.0f}"),
    ("rcpu", "Redis CPU µs/task", False, "{:.1f}"),
]


def cell(row: dict, key: str, fmt: str | None) -> str:
    if key in ("cmds", "ccmds"):
        a, b = row[f"{key}_send"], row[f"{key}_drain"]
        if a is None and b is None:
            return "-"
        return f"{(a or 0) + (b or 0):.1f} ({a or 0:.1f}+{b or 0:.1f})"
    value = row[key]
    if value is None:
        if key in ("rt", "rmem") and row["na_rt"]:
            return "n/a"
        return "-"
    assert fmt is not None
    return fmt.format(value)


def value_of(row: dict, key: str) -> float | None:
    if key in ("cmds", "ccmds"):
        if row[f"{key}_send"] is None or row[f"{key}_drain"] is None:
            return None
        return row[f"{key}_send"] + row[f"{key}_drain"]
    return row[key]


def table(rows: list[tuple[str, str, dict]]) -> str:
    header = ["library", "worker settings", *(c[1] for c in COLUMNS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, settings, row in rows:
        cells = [label, settings, *(cell(row, key, fmt) for key, _, _, fmt in COLUMNS)]
        lines.append("| " + " | ".join(cells) + " |")
    taskq_rows = [r for r in rows if r[0].startswith("taskq")]
    peer_rows = [r for r in rows if not r[0].startswith("taskq")]
    if taskq_rows and peer_rows:
        lines.append("")
        lines.append(
            "Ratios taskq / best peer per column (rates: >1 means taskq is faster; latency, "
            "commands, memory, CPU: <1 means taskq uses less):"
        )
        lines.append("")
        lines.append("| taskq row | " + " | ".join(c[1] for c in COLUMNS) + " |")
        lines.append("|" + "---|" * (len(COLUMNS) + 1))
        for label, _, row in taskq_rows:
            cells = []
            for key, _, higher, _ in COLUMNS:
                mine = value_of(row, key)
                peers = [(value_of(r, key), name) for name, _, r in peer_rows]
                peers = [(v, name) for v, name in peers if v is not None]
                if mine is None or not peers:
                    cells.append("n/a")
                    continue
                best, who = max(peers) if higher else min(peers)
                cells.append(f"{mine / best:.2f}x vs {who.split()[0]}" if best else "-")
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def command_breakdown(results: list[LibResult]) -> str:
    lines = [
        "Commands per task by name (first run; MONITOR = sent by clients, INFO = all, including "
        "those run inside Lua scripts):",
        "",
    ]

    def top(counts: dict, k: int) -> str:
        ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:k]
        return ", ".join(f"{name} {v:.2f}" for name, v in ranked if v >= 0.005) or "-"

    for res in results:
        if not res.runs:
            continue
        run = res.runs[0]
        send = run.get("send_stats", {}).get("commands", {})
        for config in res.configs:
            node = run["configs"].get(config, {})
            mon = node.get("monitor", {})
            drain = node.get("drain", {}).get("commands", {})
            lines.append(f"- {res.lib} [{config}]")
            lines.append(
                f"  - send, clients: {top(mon.get('send_by_name', {}), 6)}; all: {top(send, 8)}"
            )
            lines.append(
                f"  - drain, clients: {top(mon.get('drain_by_name', {}), 6)}; all: {top(drain, 10)}"
            )
    return "\n".join(lines)


# -- main ----------------------------------------------------------------------------------


def setup_peers() -> None:
    if not PEERS_PYTHON.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
    subprocess.run(
        [
            str(PEERS_PYTHON),
            "-m",
            "pip",
            "install",
            "-q",
            "-r",
            str(BENCH / "requirements-peers.txt"),
        ],
        check=True,
    )


def machine_note(url: str) -> str:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    server = redis.Redis.from_url(url).info("server")["redis_version"]
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(BENCH.parent), *args], capture_output=True, text=True, check=False
        ).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD")
    if git("status", "--porcelain", "--", "taskq_core", "taskq_redis", "taskq_memory"):
        commit += " + uncommitted changes in taskq_*"
    return (
        f"nproc {os.cpu_count()}, CPU {cpu}, Python {sys.version.split()[0]}, "
        f"redis-server {server}, taskq commit {commit or '?'}, load average at start {load}"
    )


def print_report(results: list[LibResult], headers: list[str]) -> None:
    """The markdown table, the ratios and the per-command breakdown."""
    rows = []
    for res in results:
        best = None
        if res.lib == "taskq" and len(res.configs) > 1:
            drains = [(summarize(res, c)["drain"] or 0, c) for c in res.configs[1:]]
            best = max(drains)[1]
        for index, config in enumerate(res.configs):
            if res.lib == "taskq":
                label = f"taskq {res.info['version']}" + (
                    " (defaults)" if index == 0 else " (best drain)" if config == best else ""
                )
                settings = (
                    res.info["configs"].get(config, config) if config == "default" else config
                )
            else:
                label = f"{res.lib} {res.info['version']}"
                settings = res.info["configs"][config]
            rows.append((label, settings, summarize(res, config)))
    for header in headers:
        print(header)
    print()
    print(table(rows))
    print()
    print(command_breakdown(results))
    print()
    print("Bulk APIs: " + "; ".join(f"{r.lib}: {r.info['bulk_api'] or '-'}" for r in results))
    print("Round trip: " + "; ".join(f"{r.lib}: {r.info['roundtrip'] or 'n/a'}" for r in results))
    errors = [f"{r.lib}: {e}" for r in results for run in r.runs for e in find_errors(run)]
    if errors:
        print("\nErrors:\n" + "\n".join(errors))


#: Libraries whose tasks can be ``async def`` (the ``asleep50`` body).
ASYNC_LIBS = ("taskq", "taskiq")
#: Seconds one task body takes at best, for the ideal drain rate (``concurrency / seconds``).
BODY_SECONDS = {"sleep5": 0.005, "asleep50": 0.05}


def body_concurrency(lib: str, config: str, body: str) -> int:
    """Tasks a worker config runs at once: taskq's ``c=``/``ac=``, the peers' configs' number."""
    if lib == "taskq":
        items = dict(item.partition("=")[::2] for item in config.split(",") if "=" in item)
        threads = int(items.get("c", 8))
        return int(items.get("ac", threads)) if body == "asleep50" else threads
    digits = "".join(ch for ch in config if ch.isdigit())
    return int(digits) if digits else 8


def body_report(results: list[LibResult], body: str) -> str:
    """Each drain rate against the ideal of its concurrency, and against the best peer's."""
    seconds = BODY_SECONDS.get(body)
    drains = [
        (res.lib, config, summarize(res, config)["drain"])
        for res in results
        for config in res.configs
    ]
    peers = [rate for lib, _, rate in drains if lib != "taskq" and rate]
    best_peer = max(peers) if peers else None
    lines = [f"Drain with the {body} body:", ""]
    for lib, config, rate in drains:
        if not rate:
            lines.append(f"- {lib} [{config}]: no drain")
            continue
        parts = [f"- {lib} [{config}]: {rate:,.0f}/s"]
        if seconds is not None:
            ideal = body_concurrency(lib, config, body) / seconds
            parts.append(f"{rate / ideal:.0%} of the ideal {ideal:,.0f}/s")
        if lib == "taskq" and best_peer:
            parts.append(f"{rate / best_peer:.2f}x the best peer ({best_peer:,.0f}/s)")
        lines.append(", ".join(parts))
    return "\n".join(lines)


def from_json(paths: list[Path]) -> None:
    """Print one report from saved ``--json`` files; a later file's library replaces an earlier."""
    by_lib: dict[str, LibResult] = {}
    headers = []
    for path in paths:
        data = json.loads(path.read_text())
        libs = [r["lib"] for r in data["results"]]
        headers.append(f"{', '.join(libs)} from {path.name}: {data['machine']}")
        for raw in data["results"]:
            by_lib[raw["lib"]] = LibResult(**raw)
    order = [lib for lib in LIBS if lib in by_lib]
    print_report([by_lib[lib] for lib in order], headers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="tasks per throughput step")
    parser.add_argument("--repeats", type=int, default=3, help="medians over this many runs")
    parser.add_argument("--only", default=",".join(LIBS), help="comma-separated libraries")
    parser.add_argument("--quick", action="store_true", help="smoke run: N=2000, 1 repeat")
    parser.add_argument(
        "--taskq-configs",
        default=f"default;{TASKQ_BEST_DEFAULT}",
        help="taskq worker configs, ';'-separated: 'default' or key=value lists "
        "(pool=threads|solo, c=N, ac=N, prefetch=N); the first is the defaults row",
    )
    parser.add_argument("--latency-samples", type=int, default=300)
    parser.add_argument("--gap-ms", type=float, default=2.0, help="pause between latency probes")
    parser.add_argument("--roundtrip-samples", type=int, default=100)
    parser.add_argument("--json", type=Path, help="also write every raw number here")
    parser.add_argument(
        "--multi-process",
        action="store_true",
        help="run only the multi-process comparison: 1, 2 and 4 worker processes per library "
        "(taskq worker --processes N; see bench/multiprocess.py)",
    )
    parser.add_argument(
        "--process-counts", default="1,2,4", help="processes per command in --multi-process"
    )
    parser.add_argument(
        "--body",
        choices=BODIES,
        default="noop",
        help="what each drained task does: noop, redis (one GET round trip), sleep5 "
        "(time.sleep 5 ms), asleep50 (asyncio.sleep 50 ms, async def tasks); a body other "
        "than noop runs the send and drain steps only, and prints each drain against its ideal",
    )
    parser.add_argument("--setup-peers", action="store_true", help="create bench/.peers-venv")
    parser.add_argument(
        "--from-json",
        type=Path,
        nargs="+",
        help="run nothing: print the report of saved --json files (a later file's library "
        "replaces an earlier one's, e.g. a fresh taskq run against saved peers)",
    )
    args = parser.parse_args()
    if args.from_json:
        from_json(args.from_json)
        return
    os.environ["BENCH_BODY"] = args.body
    if args.quick:
        args.n, args.repeats = min(args.n, 2000), 1
        args.latency_samples, args.roundtrip_samples = 50, 20
    if args.setup_peers:
        setup_peers()
    libs = [x.strip() for x in args.only.split(",") if x.strip()]
    if args.body == "asleep50":  # an async def body: only the libraries with async tasks
        libs = [lib for lib in libs if lib in ASYNC_LIBS]
    unknown = set(libs) - set(LIBS)
    if unknown:
        sys.exit(f"unknown libraries {sorted(unknown)}; choose from {LIBS}")
    if any(lib != "taskq" for lib in libs) and not PEERS_PYTHON.exists():
        sys.exit(f"{PEERS_VENV} is missing: run with --setup-peers once")

    with tempfile.TemporaryDirectory(prefix="taskq-bench-") as tmp:
        opts = Options(
            n=args.n,
            repeats=args.repeats,
            latency_samples=args.latency_samples,
            latency_warmup=20 if not args.quick else 10,
            gap_ms=args.gap_ms,
            roundtrip_samples=args.roundtrip_samples,
            logdir=Path(tmp),
        )
        with redis_server(Path(tmp)) as (url, _server):
            client = redis.Redis.from_url(url)
            note = machine_note(url)

            def log(msg: str) -> None:
                print(msg, file=sys.stderr, flush=True)

            log(f"# {note}; N={opts.n}, repeats={opts.repeats}")
            if args.multi_process:
                counts = tuple(int(c) for c in args.process_counts.split(","))
                print(f"Machine: {note}. N={opts.n}, medians of {opts.repeats} run(s).\n")
                print(multi_process_run(libs, url, client, opts, counts, log))
                return
            infos = {lib: run_step(lib, url, "info") for lib in libs}
            for lib, info in infos.items():
                if "error" in info:
                    log(f"{lib}: cannot load: {info['error']}")
            loaded = [lib for lib in libs if "error" not in infos[lib]]
            # Enqueue and bulk: the libraries take turns, one round per repeat (sends.py), so
            # every pair compared was measured at about the same moment of a shared machine.
            log("enqueue and bulk, interleaved")
            rounds = interleaved(
                loaded,
                url,
                client,
                n=opts.n,
                rounds=opts.repeats,
                run_step=run_step,
                bulk_libs={lib for lib in loaded if infos[lib]["bulk_api"]},
                log=log,
            )
            results = []
            for lib in loaded:
                info = infos[lib]
                configs = (
                    [c.strip() for c in args.taskq_configs.split(";") if c.strip()]
                    if lib == "taskq"
                    else [info["default_config"]]
                )
                res = LibResult(lib, info, configs)
                for repeat in range(opts.repeats):
                    log(f"{lib} {info['version']} repeat {repeat + 1}/{opts.repeats}")
                    run = one_repeat(res, url, client, opts, log)
                    # The block's own send step stays for memory and commands (send_block).
                    run["send_block"], run["send"] = run["send"], rounds[lib]["send"][repeat]
                    if info["bulk_api"]:
                        run["bulk_block"], run["bulk"] = run["bulk"], rounds[lib]["bulk"][repeat]
                    res.runs.append(run)
                results.append(res)
            client.close()

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    header = f"Machine: {note}, at end {load}. N={opts.n}, medians of {opts.repeats} run(s)."
    if args.body != "noop":
        header += f" Task body: {args.body}."
    print_report(results, [header])
    print()
    print("Enqueue and bulk, paired rounds (sends.py):")
    print(report(rounds, opts.n))
    if args.body != "noop":
        print()
        print(body_report(results, args.body))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": header,
                    "results": [r.__dict__ for r in results],
                    "send_rounds": rounds,
                },
                indent=1,
                default=str,
            )
        )


def multi_process_run(
    libs: list[str], url: str, client: redis.Redis, opts: Options, counts: tuple[int, ...], log
) -> str:
    """``--multi-process``: the libraries that have a multi-process command, at each count."""
    import multiprocess

    bulk = {}
    for lib in [lib for lib in libs if lib in multiprocess.SETTINGS]:
        info = run_step(lib, url, "info")
        if "error" in info:
            log(f"{lib}: cannot load: {info['error']}")
            continue
        bulk[lib] = "bulk" if info["bulk_api"] else "send"

    def refill_for(lib: str):
        return lambda: run_step(lib, url, bulk[lib], "--n", str(opts.n))

    def start_worker(lib: str, url: str, config: str, **env: str) -> WorkerProcess:
        return WorkerProcess(lib, url, config, opts.logdir, **env)

    results = multiprocess.run(
        list(bulk), url, client, opts.n, opts.repeats, counts, refill_for, start_worker, log
    )
    return multiprocess.report(results, counts)


def find_errors(node) -> list[str]:
    if isinstance(node, dict):
        found = [str(node["error"])[:1500]] if "error" in node else []
        for value in node.values():
            found += find_errors(value)
        return found
    return []


if __name__ == "__main__":
    main()

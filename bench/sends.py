"""Sends side by side: every library's `send` and `bulk` steps interleaved, round by round.

Usage::

    .venv/bin/python bench/sends.py                      # taskq, huey, rq; N=20000, 5 rounds
    .venv/bin/python bench/sends.py --only taskq,huey --n 5000 --rounds 9
    .venv/bin/python bench/sends.py --only taskq,taskiq --steps asend   # from asyncio code

Each step is what `run.py` times (`peers/scenario.py LIB send|bulk`): a fresh process opens
its connection, then N calls (or one bulk call of N) are timed. What this adds is the order:
the libraries take turns within each round (the order rotates from round to round), so every
pair of numbers compared was measured minutes apart at most, not a library block apart, and
each round gives one ratio taskq / peer. The report is the median of those paired ratios with
the worst and best round, and each library's producer and Redis CPU per call (medians; CPU
moves much less with the machine's load than wall time does). `run.py` runs the same
rounds before its per-library blocks and takes its enqueue and bulk columns from them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

#: Libraries the send comparison covers by default (the issue's peers for enqueue and bulk).
DEFAULT_LIBS = ("taskq", "huey", "rq")

StepRunner = Callable[..., dict]


def interleaved(
    libs: list[str],
    url: str,
    client,
    *,
    n: int,
    rounds: int,
    run_step: StepRunner,
    bulk_libs: set[str],
    log: Callable[[str], None],
    steps: tuple[str, ...] = ("send", "bulk"),
) -> dict[str, dict[str, list[dict]]]:
    """``{lib: {"send": [one result per round], "bulk": [...]}}``, libraries taking turns."""
    out: dict[str, dict[str, list[dict]]] = {lib: {step: [] for step in steps} for lib in libs}
    for round_index in range(rounds):
        shift = round_index % len(libs)
        order = libs[shift:] + libs[:shift]
        for lib in order:
            for step in steps:
                if step == "bulk" and lib not in bulk_libs:
                    out[lib][step].append({"na": True})
                    continue
                client.flushall()
                before = _redis_cpu(client)
                result = run_step(lib, url, step, "--n", str(n))
                if result.get("rate"):  # Redis CPU over the step (its process start included)
                    result["redis_cpu_s"] = _redis_cpu(client) - before
                out[lib][step].append(result)
                rate = result.get("rate")
                shown = f"{rate:,.0f}/s" if rate else result.get("error", "n/a")[:120]
                log(f"  round {round_index + 1}/{rounds} {lib:<8} {step:<4} {shown}")
    client.flushall()
    return out


def _redis_cpu(client) -> float:
    cpu = client.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


def paired_ratios(
    rounds: dict[str, dict[str, list[dict]]], step: str, lib: str = "taskq"
) -> dict[str, tuple[float, float, float]]:
    """Per peer: (median, worst, best) over rounds of ``lib``'s rate / the peer's rate."""
    mine = rounds.get(lib, {}).get(step, [])
    ratios: dict[str, tuple[float, float, float]] = {}
    for peer, steps in rounds.items():
        if peer == lib:
            continue
        pairs = [
            a["rate"] / b["rate"]
            for a, b in zip(mine, steps.get(step, []), strict=False)
            if a.get("rate") and b.get("rate")
        ]
        if pairs:
            ratios[peer] = (statistics.median(pairs), min(pairs), max(pairs))
    return ratios


def report(rounds: dict[str, dict[str, list[dict]]], n: int) -> str:
    """Markdown: each library's median rate, its spread and CPU per call; the paired ratios."""
    lines = [
        "| library | step | median /s | min-max /s | producer CPU µs/call | Redis CPU µs/call |",
        "|---|---|---|---|---|---|",
    ]
    for lib, steps in rounds.items():
        for step, results in steps.items():
            rates = [r["rate"] for r in results if r.get("rate")]
            cpus = [r["cpu_s"] / n * 1e6 for r in results if r.get("cpu_s")]
            redis_cpus = [r["redis_cpu_s"] / n * 1e6 for r in results if "redis_cpu_s" in r]
            if not rates:
                continue
            lines.append(
                f"| {lib} | {step} | {statistics.median(rates):,.0f} | "
                f"{min(rates):,.0f}-{max(rates):,.0f} | {statistics.median(cpus):.1f} | "
                f"{statistics.median(redis_cpus):.1f} |"
            )
    lines.append("")
    for step in next(iter(rounds.values()), {}):
        for peer, (median, worst, best) in paired_ratios(rounds, step).items():
            lines.append(
                f"taskq {step} / {peer}: {median:.2f}x median of paired rounds "
                f"(worst {worst:.2f}x, best {best:.2f}x)"
            )
    return "\n".join(lines)


def main() -> None:
    import redis

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import run

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="calls per step")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of every library")
    parser.add_argument("--only", default=",".join(DEFAULT_LIBS), help="comma-separated libs")
    parser.add_argument(
        "--steps",
        default="send,bulk",
        help="comma-separated, out of send, bulk and asend (one call each from asyncio code: "
        "taskq adelay(), taskiq kiq(); n/a for libraries without an asyncio API)",
    )
    args = parser.parse_args()
    steps = tuple(step.strip() for step in args.steps.split(",") if step.strip())
    if not steps or set(steps) - {"send", "bulk", "asend"}:
        sys.exit(f"--steps takes send, bulk and asend, got {args.steps!r}")
    libs = [lib.strip() for lib in args.only.split(",") if lib.strip()]
    if any(lib != "taskq" for lib in libs) and not run.PEERS_PYTHON.exists():
        sys.exit(f"{run.PEERS_VENV} is missing: run run.py --setup-peers once")
    with (
        tempfile.TemporaryDirectory(prefix="taskq-sends-") as tmp,
        run.redis_server(Path(tmp)) as (url, _server),
    ):
        client = redis.Redis.from_url(url)
        note = run.machine_note(url)
        print(f"# {note}; N={args.n}, rounds={args.rounds}", file=sys.stderr, flush=True)
        bulk_libs = {
            lib for lib in libs if run.run_step(lib, url, "info").get("bulk_api") is not None
        }
        rounds = interleaved(
            libs,
            url,
            client,
            n=args.n,
            rounds=args.rounds,
            run_step=run.run_step,
            bulk_libs=bulk_libs,
            log=lambda msg: print(msg, file=sys.stderr, flush=True),
            steps=steps,
        )
        client.close()
    print(f"Machine: {note}. N={args.n}, {args.rounds} interleaved rounds.\n")
    print(report(rounds, args.n))


if __name__ == "__main__":
    main()

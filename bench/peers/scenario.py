"""One benchmark step for one library, run as its own process; prints one JSON object.

Usage (``bench/run.py`` builds these command lines)::

    python bench/peers/scenario.py LIB info
    python bench/peers/scenario.py LIB send --n N          # one enqueue call per task
    python bench/peers/scenario.py LIB bulk --n N          # the library's bulk API
    python bench/peers/scenario.py LIB latency --samples S --warmup W --gap-ms G
    python bench/peers/scenario.py LIB roundtrip --samples S --warmup W
    python bench/peers/scenario.py LIB worker --config NAME   # runs until SIGTERM

``LIB`` names the module ``bench_<LIB>`` next to this file: task definitions, a ``Producer``
class and ``run_worker``. Environment variables are described in ``common.py``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import statistics
import sys
import time

import common


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("lib")
    parser.add_argument(
        "step", choices=["info", "send", "bulk", "asend", "latency", "roundtrip", "worker"]
    )
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--gap-ms", type=float, default=2.0)
    parser.add_argument("--config", default=None)
    args = parser.parse_args()
    mod = importlib.import_module(f"bench_{args.lib}")

    if args.step == "info":
        out = {
            "library": mod.LIBRARY,
            "version": importlib.metadata.version(mod.LIBRARY),
            "python": sys.version.split()[0],
            "bulk_api": mod.BULK_API,
            "configs": mod.CONFIGS,
            "default_config": mod.DEFAULT_CONFIG,
            "roundtrip": mod.ROUNDTRIP,
        }
    elif args.step == "worker":
        mod.run_worker(args.config or mod.DEFAULT_CONFIG)
        return
    else:
        producer = mod.Producer()
        try:
            out = run_producer_step(args, mod, producer)
        finally:
            producer.close()
    print(json.dumps(out))


def run_producer_step(args: argparse.Namespace, mod, producer) -> dict:
    if args.step in ("send", "bulk", "asend"):
        stamps = [0] * args.n
        if args.step == "bulk" and mod.BULK_API is None:
            return {"na": True}
        if args.step == "asend" and not hasattr(producer, "asend_each"):
            return {"na": True}
        cpu0, t0 = time.process_time(), time.perf_counter()
        if args.step == "send":
            producer.send_each(stamps)
        elif args.step == "asend":
            producer.asend_each(stamps)
        else:
            producer.send_bulk(stamps)
        seconds = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        return {"n": args.n, "seconds": seconds, "rate": args.n / seconds, "cpu_s": cpu}

    if args.step == "latency":
        receiver = common.Receiver(int(common.REPORT_ADDR[1]))
        samples = []
        for i in range(args.warmup + args.samples):
            producer.send(time.monotonic_ns())
            got = receiver.get(60 if i == 0 else 10)
            if got is None:
                return {"error": f"no start reported for probe {i}"}
            if i >= args.warmup:
                samples.append(got["latency_ns"] / 1e6)
            time.sleep(args.gap_ms / 1000)
        return {
            "p50_ms": statistics.median(samples),
            "p99_ms": percentile(samples, 99),
            "max_ms": max(samples),
            "samples": len(samples),
        }

    # roundtrip: delay().get(), with the worker started in results mode
    if not mod.ROUNDTRIP:
        return {"na": True}
    samples = []
    for i in range(args.warmup + args.samples):
        t0 = time.perf_counter()
        value = producer.roundtrip(i)
        elapsed = (time.perf_counter() - t0) * 1000
        if value != i:
            return {"error": f"round trip returned {value!r}, expected {i}"}
        if i >= args.warmup:
            samples.append(elapsed)
    return {
        "p50_ms": statistics.median(samples),
        "p99_ms": percentile(samples, 99),
        "samples": len(samples),
    }


if __name__ == "__main__":
    main()

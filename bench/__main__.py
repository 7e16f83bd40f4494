"""`make bench`: every benchmark, each figure printed beside its baseline from the same run.

Small sizes by default (minutes, fit for CI); --full for the issue's sizes (100,000 services,
1,000,000 for the renewal sweep). Results are also written as JSON to bench/results/.
"""

import argparse
import json
import platform
import time
from pathlib import Path

import psutil

from bench import bill_run, imports, ingest, memory, pages, pipeline, sweeps

BENCHMARKS = {
    "pages": pages,
    "pipeline": pipeline,
    "sweeps": sweeps,
    "bill_run": bill_run,
    "ingest": ingest,
    "imports": imports,
    "memory": memory,
}


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = psutil.virtual_memory().total / 2**30
    return (
        f"{psutil.cpu_count()} cores ({cpu}), {memory:.0f} GiB, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--full", action="store_true", help="the issue's sizes (slow)")
    parser.add_argument(
        "--only", help="comma-separated: " + ",".join(BENCHMARKS), default=",".join(BENCHMARKS)
    )
    args = parser.parse_args()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(chosen) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    record = {"machine": machine(), "full": args.full, "results": {}}
    flags = " ".join(
        a
        for a in (
            args.full and "--full",
            args.only != ",".join(BENCHMARKS) and f"--only {args.only}",
        )
        if a
    )
    command = "make bench" + (f' BENCH_ARGS="{flags}"' if flags else "")
    reports = [f"machine: {record['machine']}", f"command: {command}", ""]
    print("\n".join(reports), flush=True)
    for name in chosen:
        started = time.perf_counter()
        result = BENCHMARKS[name].measure(full=args.full)
        result["bench_seconds"] = time.perf_counter() - started
        record["results"][name] = result
        text = f"{BENCHMARKS[name].report(result)}\n  ({result['bench_seconds']:.0f} s)\n"
        reports.append(text)
        print(text, flush=True)
    out = Path("bench/results")
    out.mkdir(parents=True, exist_ok=True)
    stem = ("full" if args.full else "small") + (
        "" if chosen == list(BENCHMARKS) else "-" + "-".join(chosen)
    )
    (out / f"{stem}.json").write_text(json.dumps(record, indent=2, default=str))
    (out / f"{stem}.txt").write_text("\n".join(reports))
    print(f"results: {out / stem}.json and .txt")


if __name__ == "__main__":
    main()

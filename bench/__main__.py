"""`make bench`: run the benchmarks, print each figure beside its baseline, save JSON."""

import argparse
import json
import platform
from pathlib import Path

from bench import pages, pipeline


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--full", action="store_true", help="full size (slow)")
    parser.add_argument("--transitions", type=int, help="activations in the pipeline run")
    parser.add_argument("--database-url", help="run against this database instead of SQLite")
    parser.add_argument(
        "--scale", type=int, help="pages over `flask seed-scale` data of this many services"
    )
    args = parser.parse_args()
    n = args.transitions or (3000 if args.full else 300)
    scale = args.scale or (100_000 if args.full else None)
    page_times = pages.measure(scale=scale)
    print(pages.report(page_times, scale))
    result = pipeline.measure(n, args.database_url)
    print(pipeline.report(result))
    out = Path("bench/results")
    out.mkdir(parents=True, exist_ok=True)
    record = {
        "machine": f"{platform.machine()} {platform.python_version()}",
        "pages": page_times,
        "pipeline": result,
    }
    (out / "pipeline.json").write_text(json.dumps(record, indent=2))
    print(f"results: {out / 'pipeline.json'}")


if __name__ == "__main__":
    main()

"""`make bench`: run every benchmark module and write bench/results/results.{md,json}.

A benchmark is a module `bench/bench_<name>.py` with `run(quick: bool) -> list[Figure]`. `--quick`
uses smaller data so the harness itself can be tested; the README's figures come from full runs.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
from pathlib import Path

from bench.figures import Figure

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
QUICK_DIR = BENCH_DIR.parent / ".local" / "bench-quick"


def discover() -> list[str]:
    return sorted(p.stem for p in BENCH_DIR.glob("bench_*.py"))


def render_markdown(figures: list[Figure], machine: str) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Machine: {machine}. Ratios are measured against the named baseline in the same run.",
        "",
        "| benchmark | figure | value | baseline | baseline value | ratio | target | met | data |",
        "| --- | --- | ---: | --- | ---: | ---: | --- | --- | --- |",
    ]
    for f in figures:
        ratio = f"{f.ratio:.2f}x" if f.ratio is not None else ""
        baseline_value = f"{f.baseline_value:.4g} {f.unit}" if f.baseline_value is not None else ""
        met = {True: "yes", False: "**no**", None: ""}[f.met]
        lines.append(
            f"| {f.benchmark} | {f.figure} | {f.value:.4g} {f.unit} | {f.baseline or ''} | {baseline_value} | "
            f"{ratio} | {f.target or ''} | {met} | {f.data} |"
        )
    if not figures:
        lines.append("| (no benchmark modules yet) | | | | | | | | |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="small data: checks the harness, not the figures")
    parser.add_argument("--out", type=Path, help=f"default: {RESULTS_DIR} ({QUICK_DIR} with --quick)")
    args = parser.parse_args(argv)
    # A quick run checks the harness: it never overwrites the full figures the README quotes.
    args.out = args.out or (QUICK_DIR if args.quick else RESULTS_DIR)
    names = args.names or discover()
    figures: list[Figure] = []
    for name in names:
        module = importlib.import_module(f"bench.{name if name.startswith('bench_') else 'bench_' + name}")
        started = time.perf_counter()
        produced = module.run(quick=args.quick)
        print(f"{name}: {len(produced)} figures in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        figures.extend(produced)
    machine = f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(
        json.dumps({"machine": machine, "quick": args.quick, "figures": [f.as_dict() for f in figures]}, indent=2)
    )
    markdown = render_markdown(figures, machine)
    (args.out / "results.md").write_text(markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`mlops up` and `mlops bench`: the local cloud in the foreground, and the benchmarks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mlopsctl.commands import CommandError

BASELINE_PACKAGES = {"ingestion": ("pandera", "great_expectations")}  # bench_ingestion's baselines


def up(args: argparse.Namespace) -> int:
    """The long-lived local cloud, in the foreground, as `make up` runs it."""
    from localcloud.__main__ import configure_logging
    from localcloud.__main__ import up as run_local_cloud
    from localcloud.cloud import LocalCloudError
    from localcloud.deploy import DeployError
    from localcloud.gateway_core import GatewayError

    configure_logging()
    try:
        return run_local_cloud(args)
    except (LocalCloudError, DeployError, GatewayError) as error:
        raise CommandError(str(error)) from error


def bench(args: argparse.Namespace) -> int:
    """The benchmarks in this environment; those that compare against pandera or Great
    Expectations need the bench environment `make bench` builds."""
    import contextlib
    import importlib.util

    from bench.__main__ import RESULTS_DIR, discover
    from bench.__main__ import main as run_benchmarks

    known = [name.removeprefix("bench_") for name in discover()]
    names = [name.removeprefix("bench_") for name in args.names] or known
    unknown = [name for name in names if name not in known]
    if unknown:
        raise CommandError(f"no benchmark {', '.join(unknown)}; there are: {', '.join(known)}")
    for name in names:
        missing = [p for p in BASELINE_PACKAGES.get(name, ()) if importlib.util.find_spec(p) is None]
        if missing:
            raise CommandError(
                f"benchmark {name!r} compares against {' and '.join(missing)}, which this environment lacks: "
                "run `make bench` (it builds .venv-bench with them), or leave it out"
            )
    out: Path = args.out or RESULTS_DIR
    argv = [*names, "--out", str(out), *(["--quick"] if args.quick else [])]
    try:
        with contextlib.redirect_stdout(sys.stderr if args.json else sys.stdout):
            code = run_benchmarks(argv)
    except ModuleNotFoundError as error:
        raise CommandError(
            f"{error}: the benchmarks' baselines live in the bench environment; run `make bench`"
        ) from error
    if args.json:
        print((out / "results.json").read_text())
    else:
        print(f"results: {out / 'results.md'} and {out / 'results.json'}")
    return code

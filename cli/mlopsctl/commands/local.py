"""`mlops up` and `mlops bench`: the local cloud in the foreground, and the benchmarks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mlopsctl.commands import EXIT_OK, CommandError

BASELINE_PACKAGES = {"ingestion": ("pandera", "great_expectations")}  # bench_ingestion's baselines


def up(args: argparse.Namespace) -> int:
    """The long-lived local cloud, in the foreground, as `make up` runs it."""
    from localcloud.__main__ import configure_logging
    from localcloud.__main__ import up as run_local_cloud
    from localcloud.apigateway import GatewayError
    from localcloud.cloud import LocalCloudError
    from localcloud.deploy import DeployError

    configure_logging()
    try:
        return run_local_cloud(args)
    except (LocalCloudError, DeployError, GatewayError) as error:
        raise CommandError(str(error)) from error


def bench(args: argparse.Namespace) -> int:
    """The benchmarks in this environment, run as `make bench` runs them (`python -m bench`), in a
    child process: the benchmarks are not part of the product, so the CLI never imports them.
    Those that compare against pandera or Great Expectations need the environment `make bench` builds."""
    import importlib.util
    import subprocess

    benchmarks = _benchmarks_dir()
    known = sorted(path.stem.removeprefix("bench_") for path in benchmarks.glob("bench_*.py"))
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
    # A quick run writes beside the checkout's other scratch files, as `python -m bench --quick` does:
    # it never overwrites the full figures the README quotes.
    out: Path = args.out or (benchmarks.parent / ".local" / "bench-quick" if args.quick else benchmarks / "results")
    argv = [sys.executable, "-m", "bench", *names, "--out", str(out), *(["--quick"] if args.quick else [])]
    # Its stderr is this one's; what it prints goes to stdout, or to stderr with --json (stdout then
    # holds the results document alone), line by line as it runs.
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as child:
        for line in child.stdout or ():
            print(line, end="", file=sys.stderr if args.json else sys.stdout, flush=True)
    if child.returncode != 0:
        raise CommandError(
            f"the benchmarks failed (exit {child.returncode}; the error is above): a ModuleNotFoundError means a "
            "baseline that lives in the bench environment; run `make bench`"
        )
    if args.json:
        print((out / "results.json").read_text())
    else:
        print(f"results: {out / 'results.md'} and {out / 'results.json'}")
    return EXIT_OK


def _benchmarks_dir() -> Path:
    """Where the `bench` package is, found without importing it."""
    import importlib.util

    spec = importlib.util.find_spec("bench")
    if spec is None or not spec.submodule_search_locations:
        raise CommandError("the benchmarks are not installed here: run them from a checkout of the project")
    return Path(next(iter(spec.submodule_search_locations)))

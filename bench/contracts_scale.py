"""Read + validate at scale: 1M rows x 20 columns, CSV and Parquet, clean and with 5 % bad cells.

Prints timings (best of --repeat) and peak memory; asserts nothing. Each scenario runs in a fresh
process so that its peak RSS (Linux VmHWM, reset between phases through /proc/self/clear_refs) is
its own. With pandera importable (``--pandera-path DIR`` adds a directory to sys.path), the same
checks are also timed with ``pd.read_csv(engine="pyarrow")`` / ``pd.read_parquet`` + pandera.

    python bench/contracts_scale.py                       # our reader and validator only
    python bench/contracts_scale.py --pandera clean       # plus pandera on the clean files
    python bench/contracts_scale.py --pandera all         # pandera on 5 % dirty data takes many minutes
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "functions"))

CONTRACT = """
dataset: scale
version: 1
columns:
  - {name: customer_id, type: string, regex: "C[0-9]+", unique: true}
  - {name: int_0, type: int, min: 0, max: 999}
  - {name: int_1, type: int, min: 0, max: 999}
  - {name: int_2, type: int, min: 0, max: 999}
  - {name: int_3, type: int, min: 0, max: 999}
  - {name: int_4, type: int, min: 0, max: 999}
  - {name: int_5, type: int, min: 0, max: 999}
  - {name: float_0, type: float, min: -100, max: 200}
  - {name: float_1, type: float, min: -100, max: 200}
  - {name: float_2, type: float, min: -100, max: 200}
  - {name: float_3, type: float, min: -100, max: 200}
  - {name: float_4, type: float, min: -100, max: 200}
  - {name: float_5, type: float, min: -100, max: 200}
  - {name: float_6, type: float, min: -100, max: 200}
  - {name: float_7, type: float, min: -100, max: 200}
  - {name: plan, type: category, allowed_values: [free, pro, enterprise]}
  - {name: country, type: category, allowed_values: [DE, FR, US, GB, IT]}
  - {name: note, type: string}
  - {name: active, type: bool}
  - {name: signup, type: datetime, format: "%Y-%m-%d"}
extra_columns: reject
duplicate_rows: reject
"""


# -- data ------------------------------------------------------------------------------------------------------


def generate(rows: int, seed: int, dirty: float) -> Any:
    """A seeded table; with ``dirty`` > 0 that share of every column's cells is bad in the column's own way."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng(seed)
    ids = pc.binary_join_element_wise(pa.array(["C"] * rows), pc.cast(pa.array(np.arange(rows)), pa.string()), "")
    columns: dict[str, pa.Array] = {"customer_id": ids}
    for i in range(6):
        columns[f"int_{i}"] = pa.array(rng.integers(0, 1000, rows))
    for i in range(8):
        columns[f"float_{i}"] = pa.array(np.round(rng.normal(50, 10, rows), 4))
    columns["plan"] = pa.array(rng.choice(np.array(["free", "pro", "enterprise"]), rows))
    columns["country"] = pa.array(rng.choice(np.array(["DE", "FR", "US", "GB", "IT"]), rows))
    columns["note"] = pa.array(rng.choice(np.array(["alpha", "beta", "gamma delta", "x"]), rows))
    columns["active"] = pa.array(rng.random(rows) < 0.5)
    days = rng.integers(0, 1500, rows).astype("timedelta64[D]") + np.datetime64("2020-01-01")
    columns["signup"] = pc.strftime(pa.array(days.astype("datetime64[s]")), format="%Y-%m-%d")
    if dirty:
        for name, array in list(columns.items()):
            columns[name] = _spoil(name, array, rng, dirty)
    return pa.table(columns)


def _spoil(name: str, array: Any, rng: Any, share: float) -> Any:
    """Half the bad cells unparseable or null, half parseable but out of bounds or not allowed."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    rows = len(array)
    picked = rng.choice(rows, int(rows * share), replace=False)
    first, second = picked[: len(picked) // 2], picked[len(picked) // 2 :]
    text = pc.cast(array, pa.string()) if not pa.types.is_string(array.type) else array
    replacements = {
        "int": ("abc", "-5"),
        "float": ("1,5", "1000000.0"),
        "customer_id": (None, "X"),
        "plan": ("other", "other"),
        "country": ("other", "other"),
        "note": (None, None),
        "active": ("maybe", "maybe"),
        "signup": ("not a date", "2019-13-45"),
    }
    key = name.split("_", maxsplit=1)[0] if name.startswith(("int_", "float_")) else name
    bad_first, bad_second = replacements[key]
    values = np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)
    values[first] = bad_first
    values[second] = bad_second
    return pa.array(values, pa.string())


def write_inputs(rows: int, directory: Path) -> dict[str, Path]:
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    paths: dict[str, Path] = {}
    for state, share in (("clean", 0.0), ("dirty", 0.05)):
        table = generate(rows, seed=20260101, dirty=share)
        csv_path = directory / f"{state}.csv"
        pcsv.write_csv(table, csv_path, write_options=pcsv.WriteOptions(quoting_style="needed"))
        parquet_path = directory / f"{state}.parquet"
        pq.write_table(table, parquet_path)
        paths[f"csv-{state}"] = csv_path
        paths[f"parquet-{state}"] = parquet_path
    return paths


# -- one scenario in its own process ------------------------------------------------------------------------------


def _rss() -> tuple[int, int]:
    """Current and peak resident set size in bytes."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            key, amount, _ = line.split()
            values[key] = int(amount) * 1024
    return values["VmRSS:"], values["VmHWM:"]


def _reset_peak() -> None:
    with contextlib.suppress(OSError):  # not Linux: the peak then covers the whole process
        Path("/proc/self/clear_refs").write_text("5")


def run_ours(path: Path, repeat: int) -> dict[str, Any]:
    from mlops.contracts import load_contract, read_table, validate

    contract = load_contract(CONTRACT, source="bench")
    data = path.read_bytes()
    _reset_peak()
    base, _ = _rss()
    cpu = time.process_time()
    started = time.perf_counter()
    frame = read_table(data, filename=path.name, contract=contract)
    read_seconds = time.perf_counter() - started
    after_read, read_peak = _rss()
    _reset_peak()
    started = time.perf_counter()
    report = validate(frame, contract, file_name=path.name)
    validate_seconds = time.perf_counter() - started
    best_cpu = time.process_time() - cpu
    _, validate_peak = _rss()
    frame_bytes = int(frame.memory_usage(deep=True).sum())
    best_read, best_validate = read_seconds, validate_seconds
    for _ in range(repeat - 1):
        del frame
        cpu = time.process_time()
        started = time.perf_counter()
        frame = read_table(data, filename=path.name, contract=contract)
        middle = time.perf_counter()
        report = validate(frame, contract, file_name=path.name)
        done = time.perf_counter()
        best_read, best_validate = min(best_read, middle - started), min(best_validate, done - middle)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return {
        "read_s": best_read,
        "validate_s": best_validate,
        "total_s": best_read + best_validate,
        "cpu_s": best_cpu,
        "input_mb": len(data) / 1e6,
        "frame_mb": frame_bytes / 1e6,
        "read_peak_extra_mb": (read_peak - base) / 1e6,
        "validate_peak_extra_mb": (validate_peak - after_read) / 1e6,
        "accepted": report.accepted,
        "failed": report.failed_errors,
    }


def pandera_schema() -> Any:
    """The contract's checks in pandera: types coerced, nulls refused, bounds, sets, regex, ids, rows."""
    import pandera.pandas as pa

    columns = {"customer_id": pa.Column(str, pa.Check.str_matches(r"^C[0-9]+$"), unique=True)}
    for i in range(6):
        columns[f"int_{i}"] = pa.Column("int64", [pa.Check.ge(0), pa.Check.le(999)], coerce=True)
    for i in range(8):
        columns[f"float_{i}"] = pa.Column("float64", [pa.Check.ge(-100), pa.Check.le(200)], coerce=True)
    columns["plan"] = pa.Column(str, pa.Check.isin(["free", "pro", "enterprise"]))
    columns["country"] = pa.Column(str, pa.Check.isin(["DE", "FR", "US", "GB", "IT"]))
    columns["note"] = pa.Column(str)
    columns["active"] = pa.Column(bool, coerce=True)
    columns["signup"] = pa.Column("datetime64[ns]", coerce=True)
    return pa.DataFrameSchema(columns, strict=True, unique=list(columns))


def run_pandera(path: Path, repeat: int) -> dict[str, Any]:
    import warnings

    warnings.filterwarnings("ignore")
    import pandas as pd
    import pandera.errors

    schema = pandera_schema()
    data = path.read_bytes()
    best: tuple[float, float] | None = None
    best_cpu = float("inf")
    peaks: tuple[int, int] = (0, 0)
    failures = 0
    for attempt in range(repeat):
        _reset_peak()
        base, _ = _rss()
        cpu = time.process_time()
        started = time.perf_counter()
        if path.suffix == ".csv":
            frame = pd.read_csv(io.BytesIO(data), engine="pyarrow")
        else:
            frame = pd.read_parquet(io.BytesIO(data))
        middle = time.perf_counter()
        _, read_peak = _rss()
        try:
            schema.validate(frame, lazy=True)
        except pandera.errors.SchemaErrors as exc:
            failures = len(exc.failure_cases)
        done = time.perf_counter()
        best_cpu = min(best_cpu, time.process_time() - cpu)
        _, total_peak = _rss()
        if attempt == 0:
            peaks = (read_peak - base, total_peak - base)
        if best is None or done - started < sum(best):
            best = (middle - started, done - middle)
        del frame
    assert best is not None
    return {
        "read_s": best[0],
        "validate_s": best[1],
        "total_s": sum(best),
        "cpu_s": best_cpu,
        "read_peak_extra_mb": peaks[0] / 1e6,
        "total_peak_extra_mb": peaks[1] / 1e6,
        "failure_cases": failures,
    }


# -- driver ----------------------------------------------------------------------------------------------------------


def child(args: argparse.Namespace) -> None:
    if args.pandera_path:
        sys.path.insert(0, args.pandera_path)
    runner = run_pandera if args.engine == "pandera" else run_ours
    print(json.dumps(runner(Path(args.path), args.repeat)))


def scenario(path: Path, engine: str, args: argparse.Namespace) -> dict[str, Any] | str:
    repeat = args.repeat if engine == "ours" or path.stem == "clean" else args.pandera_dirty_repeat
    command = [sys.executable, __file__, "--child", "--engine", engine, "--path", str(path), "--repeat", str(repeat)]
    if args.pandera_path:
        command += ["--pandera-path", args.pandera_path]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout, check=False)
    except subprocess.TimeoutExpired:
        return f"timed out after {args.timeout} s"
    if done.returncode != 0:
        return "failed: " + (done.stderr.strip().splitlines() or ["?"])[-1]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def pandera_available(path: str | None) -> bool:
    code = "import pandera.pandas"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (path, os.environ.get("PYTHONPATH")) if p))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, check=False).returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="timings are the best of this many runs")
    parser.add_argument("--pandera", choices=["off", "clean", "all"], default="off")
    parser.add_argument("--pandera-path", help="a directory holding pandera (it is not a project dependency)")
    parser.add_argument("--pandera-dirty-repeat", type=int, default=1, help="pandera on dirty data is slow")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per scenario")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--engine", default="ours", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    with tempfile.TemporaryDirectory(prefix="contracts-scale-") as temporary:
        started = time.perf_counter()
        paths = write_inputs(args.rows, Path(temporary))
        print(f"generated {args.rows:,} rows x 20 columns in {time.perf_counter() - started:.1f} s")
        use_pandera = args.pandera != "off" and pandera_available(args.pandera_path)
        if args.pandera != "off" and not use_pandera:
            print("pandera is not importable: pass --pandera-path DIR (pip install --target DIR pandera)")
        header = (
            f"{'scenario':16} {'engine':8} {'read s':>7} {'valid. s':>8} {'total s':>7} {'cpu s':>6} "
            f"{'input MB':>8} {'frame MB':>8} {'peak read+MB':>12} {'peak valid.+MB':>14}  outcome"
        )
        print(header)
        # Ours first on every file, then pandera: the slow runs cannot disturb the fast ones.
        plan = [(name, "ours") for name in paths]
        if use_pandera:
            plan += [(n, "pandera") for n in paths if args.pandera == "all" or n.endswith("clean")]
        totals: dict[str, float] = {}
        for name, engine in plan:
            found = scenario(paths[name], engine, args)
            if isinstance(found, str):
                print(f"{name:16} {engine:8} {found}", flush=True)
                continue
            if engine == "ours":
                totals[name] = found["total_s"]
                print(
                    f"{name:16} {engine:8} {found['read_s']:7.2f} {found['validate_s']:8.2f} "
                    f"{found['total_s']:7.2f} {found['cpu_s']:6.2f} {found['input_mb']:8.0f} {found['frame_mb']:8.0f} "
                    f"{found['read_peak_extra_mb']:12.0f} {found['validate_peak_extra_mb']:14.0f}  "
                    f"accepted={found['accepted']} failed={found['failed']}",
                    flush=True,
                )
            else:
                ratio = f" ({found['total_s'] / totals[name]:.1f}x ours in time)" if name in totals else ""
                print(
                    f"{name:16} {engine:8} {found['read_s']:7.2f} {found['validate_s']:8.2f} "
                    f"{found['total_s']:7.2f} {found['cpu_s']:6.2f} {'':8} {'':8} {found['read_peak_extra_mb']:12.0f} "
                    f"{found['total_peak_extra_mb'] - found['read_peak_extra_mb']:14.0f}  "
                    f"failure cases={found['failure_cases']}{ratio}",
                    flush=True,
                )
        print(
            "peak read+: peak RSS while reading over RSS with the input bytes loaded; "
            "peak valid.+: peak RSS while validating over RSS with the frame loaded"
        )


if __name__ == "__main__":
    main()

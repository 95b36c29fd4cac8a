"""One tool reading and validating files, in a process of its own: ``python -m bench.ingestion_scenario``.

The parent (``bench.bench_ingestion``) starts one such process per tool, format and clean/dirty
file, so each scenario's peak memory is its own. The process imports the tool and builds its checks
(the platform's contract, the pandera schema, the Great Expectations context and suite) before
anything is timed, then, per file: loads the file's bytes (as the ingest function gets them from
S3), and times reading them into a DataFrame and validating it, best of ``--repeat`` attempts.

Memory: right before reading, the peak RSS is reset to the current RSS (Linux: ``5`` written to
``/proc/self/clear_refs`` resets VmHWM); the peak extra memory is VmHWM after validation minus VmRSS
right before reading, so the input bytes and the imported libraries are not counted, everything the
read and the validation allocate is. The figure is the first attempt's (a fresh process).

Every event is one JSON line on stdout, written as soon as it happens, so a parent that stops a
slow tool still has the attempts that finished.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import ingestion_checks as checks
from bench.ingestion_data import Dataset


def _status() -> dict[str, int]:
    values: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, amount, _ = line.split()
                values[key.rstrip(":")] = int(amount) * 1024
    return values


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:  # not Linux: the peak then covers the whole process
        return False
    return True


def _release() -> None:
    gc.collect()
    with contextlib.suppress(ImportError):
        import pyarrow as pa

        pa.default_memory_pool().release_unused()


class Tool:
    """Reads bytes into a frame and validates it; ``findings`` turns the outcome into checks' findings."""

    read: Callable[[bytes, str], Any]
    validate: Callable[[Any, str], Any]
    findings: Callable[[Any], checks.Findings]


class Platform(Tool):
    def __init__(self) -> None:
        from mlops.contracts import load_contract, read_table, validate

        contract = load_contract(checks.contract_yaml(), source="bench/ingestion_checks.py")
        self.read = lambda data, name: read_table(data, filename=name, contract=contract)
        self.validate = lambda frame, name: validate(frame, contract, file_name=name)
        self.findings = checks.platform_findings


def _pandas_read(data: bytes, name: str) -> Any:
    """How a pandera or Great Expectations user reads an upload: pandas, with the Arrow CSV engine."""
    import pandas as pd

    if name.endswith(".csv"):
        return pd.read_csv(io.BytesIO(data), engine="pyarrow")
    return pd.read_parquet(io.BytesIO(data))


class Pandera(Tool):
    def __init__(self) -> None:
        import pandera.errors

        schema = checks.pandera_schema()

        def validate(frame: Any, name: str) -> Any:
            try:
                schema.validate(frame, lazy=True)
            except pandera.errors.SchemaErrors as errors:
                return errors.failure_cases
            return None

        self.read = _pandas_read
        self.validate = validate
        self.findings = checks.pandera_findings


class GreatExpectations(Tool):
    def __init__(self) -> None:
        batch_definition, suite = checks.ge_batch_definition_and_suite()

        def validate(frame: Any, name: str) -> Any:
            batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
            return batch.validate(suite, result_format=checks.GE_RESULT_FORMAT)

        self.read = _pandas_read
        self.validate = validate
        self.findings = checks.ge_findings


TOOL_CLASSES: dict[str, Callable[[], Tool]] = {
    "platform": Platform,
    "pandera": Pandera,
    "great_expectations": GreatExpectations,
}


def _emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def _attempt(tool: Tool, data: bytes, name: str) -> tuple[dict[str, Any], Any, Any]:
    _release()
    resettable = _reset_peak()
    base = _status().get("VmRSS", 0)
    started = time.perf_counter()
    frame = tool.read(data, name)
    read_done = time.perf_counter()
    read_peak = _status().get("VmHWM", 0)
    outcome = tool.validate(frame, name)
    done = time.perf_counter()
    peak = _status().get("VmHWM", 0)
    measured = {
        "read_s": read_done - started,
        "validate_s": done - read_done,
        "total_s": done - started,
        "base_rss_mb": base / 1e6,
        "read_peak_extra_mb": (read_peak - base) / 1e6 if resettable else None,
        "peak_extra_mb": (peak - base) / 1e6 if resettable else None,
        "frame_mb": float(frame.memory_usage(deep=True).sum()) / 1e6,
        "rows": len(frame),
    }
    return measured, frame, outcome


def run_file(tool_name: str, tool: Tool, path: Path, repeat: int, cap: float) -> None:
    data = path.read_bytes()
    _emit("start", file=str(path), input_mb=len(data) / 1e6)
    began = time.perf_counter()
    last = 0.0
    for attempt in range(repeat):
        if attempt and (time.perf_counter() - began) + last > cap:
            _emit("skipped", file=str(path), reason=f"another attempt would pass the {cap:g} s budget")
            break
        measured, frame, outcome = _attempt(tool, data, path.name)
        last = measured["total_s"]
        extra: dict[str, Any] = {}
        if attempt == 0:
            # Outside the timed region: what the tool found, checked against the generator's bad cells.
            findings = tool.findings(outcome)
            dataset = Dataset(path.parent, 0)
            bad = dataset.bad_rows() if path.stem == "dirty" else {}
            extra["findings"] = checks.summarize(tool_name, findings, bad)
            if tool_name == "platform":
                extra["accepted"] = bool(outcome.accepted)
        del frame, outcome
        _emit("attempt", file=str(path), attempt=attempt, **measured, **extra)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingestion_scenario", description=__doc__)
    parser.add_argument("--tool", choices=sorted(TOOL_CLASSES), required=True)
    parser.add_argument("--file", type=Path, action="append", required=True, help="a file to read; repeatable")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cap", type=float, default=600.0, help="no further attempt past this many seconds")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    started = time.perf_counter()
    try:
        tool = TOOL_CLASSES[args.tool]()
    except ImportError as exc:
        _emit("unavailable", reason=f"{exc.name or exc} is not installed")
        return 0
    _emit("ready", setup_s=time.perf_counter() - started, rss_mb=_status().get("VmRSS", 0) / 1e6)
    for path in args.file:
        run_file(args.tool, tool, path, args.repeat, args.cap)
    return 0


if __name__ == "__main__":
    sys.exit(main())

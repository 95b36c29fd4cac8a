"""Which objects under `batch/` are inputs, and where each input's outputs go.

For `batch/<model>/<stem>.csv` (or .csv.gz, .jsonl, .jsonl.gz, .ndjson, .ndjson.gz):
`batch/<model>/<stem>.predictions/part-00000.csv`, … then `_SUCCESS.json` or `_FAILED.json`. The
function's own outputs land under the same prefix and notify it again: they are recognized here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mlops.names import BATCH_PREFIX

OUTPUT_SUFFIX = ".predictions"
SUCCESS_FILE = "_SUCCESS.json"
FAILED_FILE = "_FAILED.json"

Format = Literal["csv", "jsonl"]
SUFFIXES: dict[str, Format] = {
    ".csv.gzip": "csv",
    ".csv.gz": "csv",
    ".csv": "csv",
    ".jsonl.gz": "jsonl",
    ".jsonl": "jsonl",
    ".ndjson.gz": "jsonl",
    ".ndjson": "jsonl",
}


class NotInputError(ValueError):
    """An object under `batch/` that is not an input file (our own outputs, an unsupported type)."""

    def __init__(self, message: str, *, own_output: bool = False) -> None:
        super().__init__(message)
        self.own_output = own_output


@dataclass(frozen=True)
class BatchKey:
    """Where an input file is and where its outputs go."""

    key: str
    model: str
    filename: str
    stem: str
    format: Format

    @property
    def output_prefix(self) -> str:
        return f"{BATCH_PREFIX}{self.model}/{self.stem}{OUTPUT_SUFFIX}/"

    def part_key(self, index: int) -> str:
        return f"{self.output_prefix}part-{index:05d}.csv"

    @property
    def success_key(self) -> str:
        return self.output_prefix + SUCCESS_FILE

    @property
    def failed_key(self) -> str:
        return self.output_prefix + FAILED_FILE


def batch_key(key: str) -> BatchKey:
    """Parse `batch/<model>/<file>`; NotInputError for our own outputs and anything else not to score."""
    parts = key.split("/")
    if parts[0] + "/" != BATCH_PREFIX:
        raise NotInputError(f"{key!r} is not under {BATCH_PREFIX}")
    if len(parts) >= 4 and parts[2].endswith(OUTPUT_SUFFIX):
        raise NotInputError(f"{key!r} is an output of batch scoring", own_output=True)
    if len(parts) != 3 or not parts[1] or not parts[2]:
        raise NotInputError(f"batch files go directly under {BATCH_PREFIX}<model>/<file>; got {key!r}")
    filename = parts[2]
    lowered = filename.lower()
    for suffix, fmt in SUFFIXES.items():
        if lowered.endswith(suffix) and len(filename) > len(suffix):
            return BatchKey(key, parts[1], filename, filename[: -len(suffix)], fmt)
    supported = ", ".join(SUFFIXES)
    raise NotInputError(f"{filename!r} is not a file batch scoring reads (supported: {supported})")

"""Scoring a chunk into one CSV output part, answered as the predict API answers the same records.

The difference is the failure unit: a request with one bad row is rejected whole; in a file a bad
row is not scored and gets its problems in the `error` column, and the other rows are scored.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlops.serving.batch.reading import InputChunk
from mlops.serving.inputs import Problem, RequestError, encode_request
from mlops.serving.models import ServedVersion
from mlops.serving.signature import ServedSignature


@dataclass
class ScoredChunk:
    """One output part: the CSV bytes and what it holds."""

    rows: int
    scored: int
    errors: int
    warnings: int
    body: bytes


def output_columns(signature: ServedSignature, id_columns: Sequence[str]) -> list[str]:
    probabilities = [f"probability_{c}" for c in signature.classes or ()]
    return ["row", *id_columns, "prediction", *probabilities, "error"]


def score_chunk(chunk: InputChunk, served: ServedVersion, id_columns: Sequence[str]) -> ScoredChunk:
    """Score the rows that pass every check; the others get their problems in `error`."""
    problems: dict[int, list[Problem]] = {i: list(found) for i, found in chunk.problems.items()}
    positions = [i for i, record in enumerate(chunk.records) if record is not None]
    encoded = None
    while positions:
        records = [chunk.records[i] or {} for i in positions]
        try:
            encoded = encode_request(records, served.signature, served.policy)
            break
        except RequestError as rejected:
            bad: set[int] = set()
            for problem in rejected.problems:
                if problem.row is None:  # every check in encode_request is per row; this would be a bug
                    raise
                position = positions[problem.row]
                problems.setdefault(position, []).append(problem)
                bad.add(position)
            positions = [i for i in positions if i not in bad]
    answers: dict[int, list[str]] = {}
    warned: set[int] = set()
    if encoded is not None:
        prediction = served.predict(encoded.matrix)
        probabilities = prediction.probabilities
        labels = {c: _label_text(c) for c in served.signature.classes or ()}
        for j, position in enumerate(positions):
            label = prediction.predictions[j]
            values = [labels[label] if labels else _float32_text(label)]
            if probabilities is not None:
                values.extend(f"{p:.6f}" for p in probabilities[j].tolist())
            answers[position] = values
        warned = {positions[w.row] for w in encoded.warnings if w.row is not None}
    width = 1 + len(served.signature.classes or ())
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(output_columns(served.signature, id_columns))
    for i, number in enumerate(chunk.numbers):
        answer = answers.get(i)
        error = "" if answer is not None else _error_text(problems.get(i, []))
        writer.writerow([number, *chunk.ids[i], *(answer or [""] * width), error])
    return ScoredChunk(
        rows=len(chunk),
        scored=len(answers),
        errors=len(chunk) - len(answers),
        warnings=len(warned),
        body=out.getvalue().encode("utf-8", errors="replace"),  # an id cell of a row that is not UTF-8
    )


def empty_part(served: ServedVersion, id_columns: Sequence[str]) -> bytes:
    """The header alone: a file with no data rows still gets one part, so readers always find one."""
    return header_line(output_columns(served.signature, id_columns))


def header_line(columns: Sequence[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(columns)
    return out.getvalue().encode()


def _label_text(label: Any) -> str:
    """A class as the API's JSON shows it, without quotes: 1, churn, true."""
    return label if isinstance(label, str) else json.dumps(label)


def _float32_text(value: float) -> str:
    """The shortest text that reads back as the same float32 the model answered."""
    return str(np.float32(value))


def _error_text(problems: Sequence[Problem]) -> str:
    if not problems:
        return "not scored"
    return "; ".join(f"{p.field}: {p.message}" if p.field else p.message for p in problems)

"""`mlops predict`: rows from a file or stdin sent to the predict API through the deployed front door
(the function URL, signed; or the REST API with the prediction key)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mlopsctl.commands import EXIT_OK, CommandError, deployment_target, emit


def predict(args: argparse.Namespace) -> int:
    from mlopsctl.api import ApiError, call_predict_route, front_door_key
    from mlopsctl.prediction_input import PredictionInputError, field_types, input_form, read_prediction_input

    text = Path(args.file).read_text() if args.file not in (None, "-") else sys.stdin.read()
    form = args.format or input_form(args.file, text)
    target = deployment_target(args)
    key = front_door_key(target)
    # CSV cells are text: the signature says which fields are numbers, and which columns to leave out.
    types = (
        field_types(call_predict_route(target, "GET", f"/v1/models/{args.name}/signature", key=key))
        if form == "csv"
        else None
    )
    try:
        prepared = read_prediction_input(text, form, types)
    except PredictionInputError as problem:
        raise CommandError(f"{args.file or 'stdin'}: {problem} (read as {form}; --format chooses)") from problem
    body = prepared.body
    if args.request_key:  # in the body, not the x-request-key header: JSON carries any text, a header only ASCII
        body = {**body, "request_key": args.request_key}
    if args.explain:
        body = {**body, "explain": True}
    if prepared.left_out and not args.json:
        print(f"left out column(s) the model does not take: {', '.join(prepared.left_out)}", file=sys.stderr)
    try:
        document = call_predict_route(target, "POST", f"/v1/models/{args.name}/predict", body, key=key)
    except ApiError as error:
        for named in error.problems:
            _name_line(named, prepared.lines)
        raise
    lines = [f"{args.name} v{document['version']} ({document['variant']}), request {document['request_id']}"]
    probabilities = document.get("probabilities")
    for i, value in enumerate(document["predictions"]):
        extra = ""
        if probabilities is not None:
            extra = "  " + " ".join(f"{c}={p:.3f}" for c, p in zip(document["classes"], probabilities[i], strict=True))
        lines.append(f"  row {i}: {value}{extra}")
    lines += explanation_lines(document.get("explanation"))
    for warning in document.get("warnings", []):
        _name_line(warning, prepared.lines)
        line = f" (line {warning['line']})" if "line" in warning else ""
        lines.append(f"  warning row {warning.get('row')}{line} {warning.get('field')}: {warning['message']}")
    emit(args, document, "\n".join(lines))
    return EXIT_OK


def _name_line(problem: dict[str, Any], lines: list[int]) -> None:
    """The file line of the row a problem or warning names (CSV, JSON Lines)."""
    row = problem.get("row")
    if isinstance(row, int) and 0 <= row < len(lines):
        problem["line"] = lines[row]


SHOWN_CONTRIBUTIONS = 5  # per row, largest first; --json has every field's


def explanation_lines(explanation: dict[str, Any] | None) -> list[str]:
    """Each row's score, base and largest contributions, as `mlops predict --explain` prints them."""
    if not explanation:
        return []
    lines = [f"  explained: {explanation['score']} by {explanation['method']}"]
    for i, row in enumerate(explanation["rows"]):
        largest = sorted(row["contributions"].items(), key=lambda item: (-abs(item[1]), item[0]))
        shown = ", ".join(f"{name} {value:+.3g}" for name, value in largest[:SHOWN_CONTRIBUTIONS])
        shown += f", … {len(largest) - SHOWN_CONTRIBUTIONS} more" if len(largest) > SHOWN_CONTRIBUTIONS else ""
        of = f" ({row['class']})" if "class" in row else ""
        lines.append(f"  row {i}{of}: {row['score']:.4g} = base {row['base']:.4g} + {shown}")
    return lines

"""Every `mlops` command a script can call documents itself and speaks JSON."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlopsctl.commands.drift import _drift_verdict
from mlopsctl.commands.runs import _number_text
from mlopsctl.parser import build_parser, parse_args
from mlopsctl.training_runs import _candidate_name

REQUIRED_ARGUMENTS = {  # the fewest arguments each leaf needs to parse
    "contract draft": ["f.csv", "--dataset", "d"],
    "contract check": ["c.yaml"],
    "upload": ["f.csv", "--dataset", "d"],
    "train": ["--dataset", "d"],
    "models show": ["m"],
    "datasets show": ["d"],
    "datasets page": ["s3://bucket/reports/validation/d/f.csv/v1.html"],
    "models approve": ["m", "1", "--reason", "why"],
    "models archive": ["m", "1", "--reason", "why"],
    "models audit": ["m"],
    "models tag": ["m", "1", "k=v"],
    "models download": ["m"],
    "models lineage": ["m", "1"],
    "models import": ["m", "model.onnx", "--dataset-version", "abc"],
    "promote": ["m", "1", "--reason", "why"],
    "predict": ["m"],
    "drift": ["m"],
    "performance": ["m"],
    "rollback": ["m", "--reason", "why"],
    "report": ["m"],
    "runs compare": ["run-a", "run-b"],
    "runs search": ["--dataset", "d"],
}


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str, Any]]:
    """(command path, its help text, its parser) for each command that runs something."""
    found: list[tuple[tuple[str, ...], str, Any]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                children = _leaves(sub, (*path, name))
                found += children or [((*path, name), helps.get(name) or "", sub)]
    return found


LEAVES = _leaves(build_parser())


def test_every_command_the_issue_names_is_there() -> None:
    names = {" ".join(path) for path, _, _ in LEAVES}
    for command in (
        "up",
        "upload",
        "contract draft",
        "contract check",
        "train",
        "runs",
        "models list",
        "promote",
        "rollback",
        "predict",
        "drift",
        "performance",
        "report",
        "bench",
    ):
        assert command in names


@pytest.mark.parametrize("path", [path for path, _, _ in LEAVES], ids=" ".join)
def test_each_leaf_has_help_and_accepts_json(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    help_text = next(text for p, text, _ in LEAVES if p == path)
    assert len(help_text) > 10, f"{' '.join(path)} has no help text"
    args = build_parser().parse_args([*path, *REQUIRED_ARGUMENTS.get(" ".join(path), []), "--json"])
    assert args.json is True
    assert callable(args.run)
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([*path, "--help"])
    assert exited.value.code == 0
    assert "--json" in capsys.readouterr().out


def test_groups_and_the_top_level_have_help(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--help"], ["contract", "--help"], ["config", "--help"], ["models", "--help"]):
        with pytest.raises(SystemExit) as exited:
            build_parser().parse_args(argv)
        assert exited.value.code == 0
    assert "Exit codes" in capsys.readouterr().out


def test_usage_errors_exit_2() -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["report"])
    assert exited.value.code == 2


@pytest.mark.parametrize("path", [path for path, _, _ in LEAVES], ids=" ".join)
def test_json_before_the_command_is_accepted_too(path: tuple[str, ...]) -> None:
    rest = REQUIRED_ARGUMENTS.get(" ".join(path), [])
    assert parse_args(["--json", *path, *rest]).json is True  # `mlops --json drift x`
    assert parse_args([*path, *rest, "--json"]).json is True
    assert parse_args([*path, *rest]).json is False


def test_a_closed_pipe_ends_the_command_quietly(tmp_path: Path) -> None:
    """`mlops ... | head -1`: the reader goes away; no `error: [Errno 32] Broken pipe`, no traceback."""
    columns = [f"column_number_{i}" for i in range(1500)]  # a contract far larger than a pipe's buffer
    sample = tmp_path / "wide.csv"
    sample.write_text(",".join(columns) + "\n" + ",".join("1" for _ in columns) + "\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "mlopsctl.main", "contract", "draft", str(sample), "--dataset", "wide"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline().startswith("#")
    process.stdout.close()  # what `head -1` does after its line
    errors = process.stderr.read()
    assert process.wait(timeout=120) == 141  # 128 + SIGPIPE, as a shell reports a reader-closed pipeline
    assert errors == ""


def _report(features: int, prediction_drifted: bool | None) -> dict[str, Any]:
    prediction = None if prediction_drifted is None else {"drifted": prediction_drifted}
    config = {"dataset_drift_share": 0.5, "prediction_drift": True}
    return {"features": [{}] * features, "prediction": prediction, "config": config}


def test_drift_lines_say_why_ok_is_ok_and_drift_is_drift() -> None:
    ok = {"status": "ok", "drifted_features": ["a", "b", "c"]}
    assert _drift_verdict(ok, _report(30, False)) == (
        "ok (3 of 31 features drifted, below the dataset-drift share 0.5): a, b, c"
    )
    drift = {"status": "drift", "drifted_features": [f"f{i}" for i in range(9)]}
    assert _drift_verdict(drift, _report(30, True)).startswith(
        "drift (10 of 31 features drifted, at least the dataset-drift share 0.5): the prediction, f0, f1"
    )  # the prediction counted as the 10th, and named
    assert _drift_verdict({"status": "ok", "drifted_features": []}, _report(4, None)) == (
        "ok (0 of 4 features drifted, below the dataset-drift share 0.5)"
    )
    assert _drift_verdict({"status": "insufficient_data"}, None) == "insufficient_data"


def test_whole_metrics_print_and_map_iterations_are_named() -> None:
    assert _number_text(1) == "1" and _number_text(0.98765) == "0.9877"  # DynamoDB's Decimal 1 arrives as int 1
    assert _candidate_name('{"run": {}, "candidate": {"name": "forest", "estimator": "x"}}') == "forest"
    assert _candidate_name({"Payload": {"candidate": {"name": "logistic"}}}) == "logistic"
    assert _candidate_name('{"run": {}}') is None and _candidate_name("not json") is None


def test_runs_compare_and_search_are_commands_beside_runs_own_run_id() -> None:
    compared = parse_args(["runs", "compare", "run-a", "run-b"])
    assert (compared.command, compared.run_a, compared.run_b) == ("runs compare", "run-a", "run-b")
    assert parse_args(["runs", "run-a"]).run_id == "run-a"  # a run's details, as before
    searched = parse_args(
        ["--json", "runs", "search", "--dataset", "d", "--metric", "roc_auc>0.9", "--sort", "-roc_auc"]
    )
    assert (searched.command, searched.metric, searched.sort, searched.json) == (
        "runs search",
        ["roc_auc>0.9"],
        "-roc_auc",
        True,
    )
    assert parse_args(["runs", "--sort", "-roc_auc"]).sort == "-roc_auc"

"""Every `mlops` command a script can call documents itself and speaks JSON."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from mlopsctl.main import build_parser

REQUIRED_ARGUMENTS = {  # the fewest arguments each leaf needs to parse
    "contract draft": ["f.csv", "--dataset", "d"],
    "contract check": ["c.yaml"],
    "upload": ["f.csv", "--dataset", "d"],
    "train": ["--dataset", "d"],
    "models show": ["m"],
    "models approve": ["m", "1", "--reason", "why"],
    "models archive": ["m", "1", "--reason", "why"],
    "models audit": ["m"],
    "promote": ["m", "1", "--reason", "why"],
    "predict": ["m"],
    "drift": ["m"],
    "rollback": ["m", "--reason", "why"],
    "report": ["m"],
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

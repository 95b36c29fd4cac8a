"""`mlops predict --explain`: the flag puts `"explain": true` in the body, and each row's answer is
printed as its score, base and largest contributions."""

from __future__ import annotations

from mlopsctl.commands.predict import explanation_lines
from mlopsctl.parser import build_parser


def test_the_flag_is_parsed() -> None:
    args = build_parser().parse_args(["predict", "churn", "rows.json", "--explain"])
    assert args.explain is True
    assert build_parser().parse_args(["predict", "churn", "rows.json"]).explain is False


def test_each_row_prints_its_largest_contributions_first() -> None:
    contributions = {f"f{i}": (-1) ** i * i / 10 for i in range(7)}
    explanation = {
        "method": "treeshap",
        "score": "log_odds",
        "rows": [{"class": "churn", "score": 1.25, "base": -0.85, "contributions": contributions}],
    }
    header, row = explanation_lines(explanation)
    assert header == "  explained: log_odds by treeshap"
    assert row == "  row 0 (churn): 1.25 = base -0.85 + f6 +0.6, f5 -0.5, f4 +0.4, f3 -0.3, f2 +0.2, … 2 more"
    assert explanation_lines(None) == []

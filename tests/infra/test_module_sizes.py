"""No module of the platform, its CDK app or the local cloud holds more than one reader's worth of
code without saying why: past ~500 lines a file usually holds several concepts (issue #18). The CLI
and the benchmarks are exempt (a command's text and a benchmark's tables are long by nature)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKED = ("functions", "infra", "localcloud")
LIMIT = 500
# The paragraph a long module's docstring starts its reason with.
REASON = "One module"


def _long_modules_without_a_reason(root: Path = ROOT) -> list[str]:
    found = []
    for folder in CHECKED:
        for path in sorted((root / folder).rglob("*.py")):
            text = path.read_text()
            lines = text.count("\n")
            if lines <= LIMIT:
                continue
            docstring = ast.get_docstring(ast.parse(text)) or ""
            if not any(paragraph.startswith(REASON) for paragraph in docstring.split("\n\n")):
                found.append(f"{path.relative_to(root)}: {lines} lines, no '{REASON} …' paragraph in its docstring")
    return found


def test_every_long_module_says_why_it_is_one_module() -> None:
    assert _long_modules_without_a_reason() == []


def test_the_check_finds_a_long_module_without_a_reason(tmp_path: Path) -> None:
    """The rule reads docstrings, not file names: a long module passes only with its reason."""
    (tmp_path / "functions").mkdir()
    body = "x = 1\n" * (LIMIT + 1)
    (tmp_path / "functions" / "long.py").write_text('"""Many things."""\n' + body)
    (tmp_path / "functions" / "reasoned.py").write_text('"""Many things.\n\nOne module because: a reason."""\n' + body)
    assert [p.split(":")[0] for p in _long_modules_without_a_reason(tmp_path)] == ["functions/long.py"]

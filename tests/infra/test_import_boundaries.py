"""The import boundaries the README promises, as import-linter contracts (pyproject.toml,
[tool.importlinter]): the core imports no handler, infrastructure, CLI or local cloud; serving never
reaches training, the contract engine, scikit-learn, scipy, pandas, pyarrow, skl2onnx, PyYAML or
pydantic (the predict layer carries none of them), directly or through another module; the registry's
records, rules and key layout need no AWS SDK (serving reads the records); nothing imports a handler;
the local cloud imports nothing of the platform; the top-level packages form layers (the CLI over
the local cloud over the CDK app and the handlers over the core), so no two import each other; the
CLI never imports the benchmarks. And no module of the Lambda code reaches into another's private
(underscore) names: what two modules share has a public home whose name says what it is.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Private names still imported across modules, each with why (none may be added).
PRIVATE_IMPORTS_LEFT: set[tuple[str, str, str]] = set()


def test_every_import_contract_is_kept() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "functions"), str(ROOT / "cli"), str(ROOT)])}
    linter = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(linter), "--no-cache"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert f"Contracts: {len(contracts)} kept, 0 broken." in result.stdout, result.stdout[-2000:]


def test_no_lambda_module_imports_another_modules_private_names() -> None:
    found = set()
    for path in sorted((ROOT / "functions").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT / "functions").with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                private = {a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")}
                found |= {(module, node.module, name) for name in private}
    assert found == PRIVATE_IMPORTS_LEFT

"""The import boundaries the README promises, as import-linter contracts (pyproject.toml,
[tool.importlinter]): the core imports no handler, infrastructure, CLI or local cloud; serving never
reaches training, the contract engine, scikit-learn, scipy, pandas, pyarrow, skl2onnx, PyYAML or
pydantic (the predict layer carries none of them), directly or through another module; the registry's
records, rules and key layout need no AWS SDK (serving reads the records); nothing imports a handler;
the local cloud imports nothing of the platform; the top-level packages form layers (the CLI over
the local cloud over the CDK app and the handlers over the core), so no two import each other; the
CLI never imports the benchmarks.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_import_contract_is_kept() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "functions"), str(ROOT / "cli"), str(ROOT)])}
    linter = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(linter), "--no-cache"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert f"Contracts: {len(contracts)} kept, 0 broken." in result.stdout, result.stdout[-2000:]

"""The explanation code is loaded by the first request that asks for contributions, not at the predict
function's cold start (issue #21's cold-start work; issue #22's explain rides on top of it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

FUNCTIONS = Path(__file__).resolve().parents[3] / "functions"


def test_importing_the_predict_handler_does_not_load_the_explanation_code() -> None:
    probe = "import sys, handlers.predict; print(sorted(m for m in sys.modules if 'explain' in m or 'tree_shap' in m))"
    found = subprocess.run(
        [sys.executable, "-c", probe], cwd=FUNCTIONS, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert found == "[]"

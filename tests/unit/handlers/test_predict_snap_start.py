"""Under SnapStart (`serving.snap_start`) the predict handler builds its clients at init, so the
snapshot holds them, and reseeds its random draws when an environment resumes from the snapshot.
Each case imports the handler in a fresh interpreter, as Lambda's init does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from infra.paths import FUNCTIONS_DIR, PROJECT_ROOT

ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "ARTIFACTS_BUCKET": "artifacts",
    "REGISTRY_TABLE": "registry",
}
# What Lambda's Python runtimes provide as `snapshot_restore_py`, recording what is registered.
RESTORE_LIBRARY = """
after_restore = []
def register_after_restore(func, *args, **kwargs):
    after_restore.append(func)
"""
PROBE = """
import json, sys
import handlers.predict as predict
built = predict.services.built()
report = {"built": built is not None, "hooks": []}
try:
    import snapshot_restore_py
except ImportError:
    pass
else:
    report["hooks"] = [f.__name__ for f in snapshot_restore_py.after_restore]
    if built is not None:
        before = (built.serving.rng.getstate(), built.serving.capture.rng.getstate())
        for hook in snapshot_restore_py.after_restore:
            hook()
        after = (built.serving.rng.getstate(), built.serving.capture.rng.getstate())
        report["reseeded"] = [a != b for a, b in zip(before, after)]
print(json.dumps(report))
"""


def _init(tmp_path: Path, environment: dict[str, str], *, on_lambda: bool) -> dict[str, Any]:
    paths = [str(FUNCTIONS_DIR), str(PROJECT_ROOT)]
    if on_lambda:
        (tmp_path / "snapshot_restore_py.py").write_text(textwrap.dedent(RESTORE_LIBRARY))
        paths.insert(0, str(tmp_path))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(environment, PYTHONPATH=os.pathsep.join(paths))
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    report: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return report


def test_with_snap_start_the_clients_are_built_at_init_and_reseeded_on_restore(tmp_path: Path) -> None:
    report = _init(tmp_path, {**ENVIRONMENT, "PRELOAD_CLIENTS": "true"}, on_lambda=True)
    assert report["built"]
    assert report["hooks"] == ["_reseed_after_restore"]
    assert report["reseeded"] == [True, True]  # the canary split's draws and the capture sample's


def test_without_snap_start_nothing_is_built_until_the_first_request(tmp_path: Path) -> None:
    report = _init(tmp_path, ENVIRONMENT, on_lambda=True)
    assert report == {"built": False, "hooks": []}


def test_a_build_that_fails_at_init_is_left_to_the_first_request(tmp_path: Path) -> None:
    # No table named: building the settings fails; the import (Lambda's init) must not.
    environment = {k: v for k, v in ENVIRONMENT.items() if k != "REGISTRY_TABLE"}
    report = _init(tmp_path, {**environment, "PRELOAD_CLIENTS": "true"}, on_lambda=False)
    assert report == {"built": False, "hooks": []}

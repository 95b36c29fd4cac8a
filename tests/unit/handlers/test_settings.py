"""The one way every handler gets its settings and clients (handlers/settings.py): read from the
environment on the first invocation and kept for the container, a missing variable named; importing
a handler reads nothing and makes no client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import pytest

from handlers.settings import FunctionSettings, PerContainer, SettingError
from infra.paths import FUNCTIONS_DIR, PROJECT_ROOT

HANDLERS = {  # each handler module, and the first variable its settings need
    "handlers.predict": "ARTIFACTS_BUCKET",
    "handlers.registry_api": "REGISTRY_TABLE",
    "handlers.batch_scoring": "RAW_BUCKET",
    "handlers.drift": "REGISTRY_TABLE",
    "handlers.ingest": "RAW_BUCKET",
    "handlers.training": "ARTIFACTS_BUCKET",
    "handlers.training_failure": "REGISTRY_TABLE",
    "handlers.parity": "ARTIFACTS_BUCKET",
    "handlers.score_champion": "ARTIFACTS_BUCKET",
    "handlers.health": None,  # every setting has a default
}


@dataclass(frozen=True)
class Example(FunctionSettings):
    registry_table: str
    alias_cache_seconds: float = 30.0
    capture_max_rows: int = 1000


def test_fields_are_read_from_their_variables_and_converted() -> None:
    environ = {"REGISTRY_TABLE": "registry", "ALIAS_CACHE_SECONDS": "2.5", "CAPTURE_MAX_ROWS": "10", "OTHER": "x"}
    assert Example.from_environment(environ) == Example("registry", 2.5, 10)
    assert Example.from_environment({"REGISTRY_TABLE": "registry"}) == Example("registry", 30.0, 1000)


def test_a_missing_or_unreadable_variable_is_named() -> None:
    with pytest.raises(SettingError, match=r"the function's environment has no REGISTRY_TABLE \(Example"):
        Example.from_environment({"ALIAS_CACHE_SECONDS": "1"})
    with pytest.raises(SettingError, match=r"CAPTURE_MAX_ROWS='1e3' is not a whole number"):
        Example.from_environment({"REGISTRY_TABLE": "registry", "CAPTURE_MAX_ROWS": "1e3"})
    with pytest.raises(SettingError, match=r"ALIAS_CACHE_SECONDS='soon' is not a number"):
        Example.from_environment({"REGISTRY_TABLE": "registry", "ALIAS_CACHE_SECONDS": "soon"})


def test_a_container_builds_once_even_when_two_invocations_start_together() -> None:
    builds: list[int] = []

    def build() -> int:
        time.sleep(0.05)
        builds.append(len(builds))
        return len(builds)

    services = PerContainer(build)
    assert services.built() is None
    seen: list[int] = []
    threads = [threading.Thread(target=lambda: seen.append(services())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == [1, 1, 1, 1] and builds == [0] and services.built() == 1
    services.forget()
    assert services() == 2


def test_a_failed_build_is_tried_again_and_a_replacement_lasts_for_its_block() -> None:
    attempts: list[str] = []

    def build() -> str:
        attempts.append("try")
        if len(attempts) == 1:
            raise SettingError("the function's environment has no REGISTRY_TABLE")
        return "built"

    services = PerContainer(build)
    with pytest.raises(SettingError):
        services()
    with services.replaced("fake"):
        assert services() == "fake"
    assert services() == "built" and len(attempts) == 2
    with services.replaced("fake"):
        assert services() == "fake"
    assert services() == "built"


def test_importing_a_handler_reads_no_setting_and_makes_no_client() -> None:
    """Each handler imported with an empty environment and boto3 refusing to make a client; then its
    first invocation's build names the variable it lacks (health has defaults for everything)."""
    code = f"""
import json, boto3

def refuse(*args, **kwargs):
    raise AssertionError("a client made on import")

boto3.client = boto3.resource = refuse
import importlib
modules = {{name: importlib.import_module(name) for name in {sorted(HANDLERS)!r}}}
boto3.client = boto3.resource = lambda *args, **kwargs: None
first_build = {{}}
for name, module in modules.items():
    per_container = getattr(module, "services", None) or module.settings
    try:
        per_container()
        first_build[name] = None
    except Exception as error:
        first_build[name] = f"{{type(error).__name__}}: {{error}}"
print(json.dumps(first_build))
"""
    environment = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(FUNCTIONS_DIR)}
    done = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        env=environment,
        cwd=PROJECT_ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    first_build = json.loads(done.stdout.splitlines()[-1])
    for name, variable in HANDLERS.items():
        if variable is None:
            assert first_build[name] is None, first_build[name]
        else:
            assert first_build[name].startswith(f"SettingError: the function's environment has no {variable} ("), (
                name,
                first_build[name],
            )

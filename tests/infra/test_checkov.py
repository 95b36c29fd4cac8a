"""checkov, a second template scanner independent of cdk-nag, on the synthesized template: every
finding is fixed in infra/ or skipped in its resource's metadata with a reason (infra/nag.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

CHECKOV = Path(sys.executable).with_name("checkov")
# Offline: no policy-metadata download from the Prisma Cloud API (--skip-download, BC_SKIP_MAPPING) and
# no PyPI version check (CKV_SKIP_PACKAGE_UPDATE_CHECK, done when checkov is imported).
OFFLINE_ENV = {"BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "LOG_LEVEL": "WARNING"}


@pytest.fixture(scope="module")
def checkov_report(platform_template: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """checkov's JSON report on the template, from its command line as a developer would run it.

    About 6.5 s of CPU, most of it compiling checkov's modules: `make venv` installs no bytecode.
    """
    workdir = tmp_path_factory.mktemp("checkov")
    template = workdir / "platform.template.json"
    template.write_text(json.dumps(platform_template))
    command = [str(CHECKOV), "--file", str(template), "--framework", "cloudformation", "--skip-download"]
    completed = subprocess.run(
        [*command, "--output", "json", "--compact"],
        cwd=workdir,
        env={**os.environ, **OFFLINE_ENV},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # 0: nothing failed, 1: something failed; anything else is checkov itself failing.
    assert completed.returncode in (0, 1), f"{' '.join(command)} exited {completed.returncode}:\n{completed.stderr}"
    report: dict[str, Any] = json.loads(completed.stdout)
    return report


def test_checkov_finds_nothing_that_is_neither_fixed_nor_skipped_with_a_reason(checkov_report: dict[str, Any]) -> None:
    failed = checkov_report["results"]["failed_checks"]
    assert not failed, (
        f"checkov: {len(failed)} failed check(s); fix each in infra/ or skip it there with skip_checkov and a "
        "reason (to see the details after `make synth`: checkov --file cdk.out/ServerlessMlops.template.json "
        "--framework cloudformation --skip-download):\n"
        + "\n".join(f"  {f['check_id']} {f['resource']}: {f['check_name']}" for f in failed)
    )


def test_checkov_scanned_the_whole_template(checkov_report: dict[str, Any], platform_template: dict[str, Any]) -> None:
    """A report with nothing failed proves nothing unless checkov read every resource and ran its checks."""
    summary = checkov_report["summary"]
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] == len(platform_template["Resources"])
    assert summary["passed"] >= 300, summary


def test_every_checkov_skip_names_its_reason(checkov_report: dict[str, Any]) -> None:
    skipped = checkov_report["results"]["skipped_checks"]
    assert skipped
    vague = [
        (s["check_id"], s["resource"])
        for s in skipped
        if len((s["check_result"].get("suppress_comment") or "").strip()) < 40
    ]
    assert not vague, f"skipped without a written reason: {vague}"

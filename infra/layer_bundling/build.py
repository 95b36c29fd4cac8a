"""One layer build: install for Lambda, drop what must not ship, verify the pins, trim, precompile,
and the manifest that records it."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from infra.layer_bundling import log
from infra.layer_bundling.install import install, installed, reachable_distributions, uninstall, verify
from infra.layer_bundling.spec import BUNDLER_VERSION, LayerSpec
from infra.layer_bundling.trim import precompile, trim


def build_into(spec: LayerSpec, key: str, staging: Path) -> dict[str, Any]:
    """Build `spec` into `staging/python/` and return its manifest (what was installed, how, how big)."""
    started = time.monotonic()
    target = staging / "python"
    pins = spec.pinned()
    with tempfile.TemporaryDirectory(prefix="layer-inputs-") as scratch:
        constraints = Path(scratch) / "constraints.txt"
        lock_pins = spec.lock().pins
        constraints.write_text("".join(f"{name}=={version}\n" for name, version in sorted(lock_pins.items())))
        requirements = Path(scratch) / "requirements.txt"
        requirements.write_text("".join(f"{r}\n" for r in spec.requirements()))
        excludes = Path(scratch) / "excludes.txt"
        excludes.write_text("".join(f"{name}\n" for name in sorted(spec.excluded())))
        tool = install(spec, target, requirements=requirements, constraints=constraints, excludes=excludes)
    installed_after = time.monotonic() - started
    # Excluded distributions, then whatever only they pulled in (pip installs botocore's
    # python-dateutil and six for aws-xray-sdk; uv never installs them thanks to --excludes).
    removed = [name for name in sorted(spec.excluded()) if uninstall(target, name)]
    keep = reachable_distributions(spec, target)
    removed += [name for name in sorted(installed(target).keys() - keep) if uninstall(target, name)]
    shipped = installed(target)
    verify(spec, shipped, pins)
    trim(spec, target)
    compile_started = time.monotonic()
    bytecode = precompile(spec, target)
    compile_seconds = time.monotonic() - compile_started
    size, files = tree_size(target)
    elapsed = time.monotonic() - started
    log(f"{spec.name}/{spec.architecture}: built with {tool} in {elapsed:.1f}s, {size / 2**20:.1f} MiB, {files} files")
    return {
        "name": spec.name,
        "architecture": spec.architecture,
        "python": spec.python_version,
        "key": key,
        "bundler": BUNDLER_VERSION,
        "installer": tool,
        "bytecode": bytecode,
        "distributions": shipped,
        "removed": removed,
        "size_bytes": size,
        "files": files,
        "build_seconds": round(elapsed, 2),
        "install_seconds": round(installed_after, 2),
        "compile_seconds": round(compile_seconds, 2),
    }


def tree_size(root: Path) -> tuple[int, int]:
    """(bytes, files) as Lambda counts them: every file's full size, unzipped."""
    total = count = 0
    for dirpath, _dirnames, filenames in os.walk(root):
        for filename in filenames:
            total += os.lstat(os.path.join(dirpath, filename)).st_size
            count += 1
    return total, count

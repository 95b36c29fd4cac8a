"""Installing a layer's wheels for Lambda's platform with uv or pip, and keeping only the
distributions its requirements reach there."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from infra.layer_bundling.spec import GLIBC_MAX_MINOR, MACHINES, LayerSpec, manylinux_tags, marker_environment
from infra.layer_bundling.toolchain import find_uv
from infra.layer_bundling.trim import remove_empty_dirs
from infra.paths import PROJECT_ROOT


def install(spec: LayerSpec, target: Path, *, requirements: Path, constraints: Path, excludes: Path) -> str:
    """Install wheels only, for Lambda's platform and Python; returns the tool used."""
    forced = os.environ.get("SERVERLESS_MLOPS_LAYER_INSTALLER", "").strip().lower()
    uv = find_uv() if forced != "pip" else None
    if forced == "uv" and not uv:
        raise RuntimeError("SERVERLESS_MLOPS_LAYER_INSTALLER=uv but no uv executable was found")
    if uv:
        machine = MACHINES[spec.architecture]
        command = [
            uv,
            "pip",
            "install",
            "--quiet",
            "--no-progress",
            "--target",
            str(target),
            "--python",
            sys.executable,
            "--python-platform",
            f"{machine}-manylinux_2_{GLIBC_MAX_MINOR}",
            "--python-version",
            spec.python_version,
            "--only-binary",
            ":all:",
            "--constraints",
            str(constraints),
            "--excludes",
            str(excludes),
            "--requirements",
            str(requirements),
        ]
        tool = "uv"
    else:
        platforms = [arg for tag in manylinux_tags(spec.architecture) for arg in ("--platform", tag)]
        command = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-input",
            "--disable-pip-version-check",
            "--no-compile",
            "--target",
            str(target),
            "--only-binary=:all:",
            "--implementation",
            "cp",
            "--python-version",
            spec.python_version,
            "--abi",
            "cp" + spec.python_version.replace(".", ""),
            *platforms,
            "--constraint",
            str(constraints),
            "--requirement",
            str(requirements),
        ]
        tool = "pip"
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=PROJECT_ROOT)
    if result.returncode != 0:
        raise RuntimeError(
            f"layer {spec.name}/{spec.architecture}: {tool} install failed ({result.returncode}):\n"
            f"{' '.join(command)}\n{result.stdout}{result.stderr}"
        )
    return tool


def installed(target: Path) -> dict[str, str]:
    found = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions(path=[str(target)])}
    return dict(sorted(found.items()))


def reachable_distributions(spec: LayerSpec, target: Path) -> set[str]:
    """Installed distributions the requirements need on Lambda, not counting excluded ones.

    What a built layer keeps; tests/infra/test_handler_imports.py reads a layer's content the same way.
    """
    dists = {canonicalize_name(d.metadata["Name"]): d for d in metadata.distributions(path=[str(target)])}
    environment = marker_environment(spec)
    excluded = spec.excluded()
    todo = [(canonicalize_name(r.name), frozenset(r.extras)) for r in spec.requirements()]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, extras = todo.pop()
        if name in excluded or name not in dists or (name, extras) in seen:
            continue
        seen.add((name, extras))
        for line in dists[name].requires or []:
            requirement = Requirement(line)
            marker = requirement.marker
            if marker is None or any(marker.evaluate({**environment, "extra": e}) for e in extras or {""}):
                todo.append((canonicalize_name(requirement.name), frozenset(requirement.extras)))
    return {name for name, _extras in seen}


def uninstall(target: Path, name: str) -> str | None:
    """Remove one distribution by its RECORD (pip ignores uv's --excludes; this covers both)."""
    for dist in metadata.distributions(path=[str(target)]):
        if canonicalize_name(dist.metadata["Name"]) != name:
            continue
        base = target.resolve()
        for file in dist.files or ():
            path = (target / file).resolve()
            if path.is_relative_to(base) and path.is_file():
                path.unlink()
        info = getattr(dist, "_path", None)
        if isinstance(info, Path) and info.exists():
            shutil.rmtree(info)
        remove_empty_dirs(target)
        return name
    return None


def verify(spec: LayerSpec, installed: Mapping[str, str], pins: Mapping[str, str]) -> None:
    """Refuse layers that could break the runtime's boto3 or that the cache key does not describe."""
    problems: list[str] = []
    for name in sorted(spec.excluded() & installed.keys()):
        problems.append(f"{name} is installed but must not ship")
    dateutil = installed.get("python-dateutil")
    if dateutil and Version(dateutil) >= Version("3"):
        problems.append(f"python-dateutil {dateutil} would shadow the runtime's botocore (needs < 3)")
    for name, version in installed.items():
        if name not in pins:
            problems.append(
                f"{name}=={version} is installed but neither pinned in requirements.txt nor reached through "
                f"{spec.lock_file.name}: pin it in layers/{spec.name}/requirements.txt"
            )
        elif Version(pins[name]) != Version(version):
            problems.append(f"{name} installed as {version}, pinned as {pins[name]}")
    if problems:
        raise RuntimeError(f"layer {spec.name}/{spec.architecture}:\n  " + "\n  ".join(problems))

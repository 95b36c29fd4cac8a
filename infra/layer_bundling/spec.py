"""What a layer is built from, and the key that names the build: `layers/<name>/` for one
architecture, pinned by the project's lock."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from aws_cdk import aws_lambda as lambda_
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from infra.layer_bundling import toolchain
from infra.layer_bundling.lock import LOCK_FILE, Lock, parse_lock
from infra.layer_bundling.toolchain import PYTHON_VERSION
from infra.paths import LAYERS_DIR

# Bump when the build recipe changes (tags, trimming, compile flags): it invalidates every cached layer.
BUNDLER_VERSION: Final = "2"
# Lambda's python3.12 runtime is Amazon Linux 2023 (glibc 2.34): any manylinux tag up to 2_34 runs.
GLIBC_MAX_MINOR: Final = 34
GLIBC_MIN_MINOR: Final = 17
# Never shipped: the runtime has them, and a layer copy would shadow the runtime's boto3.
RUNTIME_PROVIDED: Final = frozenset({"boto3", "botocore", "s3transfer", "urllib3"})
# Lambda's architecture names and the machine names of wheel tags and PEP 508 markers.
MACHINES: Final = {"arm64": "aarch64", "x86_64": "x86_64"}


def architecture_name(architecture: lambda_.Architecture | str) -> str:
    """'arm64' or 'x86_64' (Lambda's names), from a CDK Architecture or a string."""
    name = architecture if isinstance(architecture, str) else architecture.name
    if name not in MACHINES:
        raise ValueError(f"unsupported Lambda architecture {name!r}; expected one of {sorted(MACHINES)}")
    return name


def manylinux_tags(architecture: str) -> list[str]:
    """Every manylinux tag Lambda's glibc accepts, newest first: pip needs them all, not one."""
    machine = MACHINES[architecture_name(architecture)]
    tags = [f"manylinux_2_{minor}_{machine}" for minor in range(GLIBC_MAX_MINOR, GLIBC_MIN_MINOR - 1, -1)]
    return [*tags, f"manylinux2014_{machine}"]


def _spec_lines(path: Path) -> list[str]:
    """Meaningful lines of a layer file: comments and blanks do not change a layer."""
    if not path.exists():
        return []
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


@dataclass(frozen=True)
class LayerSpec:
    """What to build: `layers/<name>/` for one architecture, pinned by the project's lock.

    A layer directory holds `requirements.txt` (exact pins), optionally `exclude.txt` (distributions
    not to ship although something depends on them) and `prune.txt` (globs under `python/` to delete).
    """

    name: str
    architecture: str
    layer_dir: Path
    lock_file: Path = LOCK_FILE
    python_version: str = PYTHON_VERSION

    @classmethod
    def for_layer(
        cls,
        name: str,
        architecture: lambda_.Architecture | str,
        *,
        layers_dir: Path = LAYERS_DIR,
        lock_file: Path = LOCK_FILE,
    ) -> LayerSpec:
        layer_dir = layers_dir / name
        if not (layer_dir / "requirements.txt").is_file():
            raise ValueError(f"no layer {name!r}: {layer_dir / 'requirements.txt'} does not exist")
        return cls(name=name, architecture=architecture_name(architecture), layer_dir=layer_dir, lock_file=lock_file)

    def requirements(self) -> list[Requirement]:
        return [Requirement(line) for line in _spec_lines(self.layer_dir / "requirements.txt")]

    def excluded(self) -> frozenset[str]:
        """Distributions never shipped: the runtime's own plus the layer's exclude.txt."""
        own = {canonicalize_name(line) for line in _spec_lines(self.layer_dir / "exclude.txt")}
        return frozenset(RUNTIME_PROVIDED | own)

    def prune_globs(self) -> list[str]:
        return _spec_lines(self.layer_dir / "prune.txt")

    def lock(self) -> Lock:
        return parse_lock(self.lock_file.read_text())

    def pinned(self) -> dict[str, str]:
        """Exact versions this layer may install: its requirements' pins plus the lock's closure."""
        lock = self.lock()
        pins: dict[str, str] = {}
        for requirement in self.requirements():
            name = canonicalize_name(requirement.name)
            specs = list(requirement.specifier)
            if len(specs) != 1 or specs[0].operator != "==":
                raise ValueError(f"layer {self.name}: pin {requirement} exactly (name==version)")
            version = specs[0].version
            locked = lock.pins.get(name)
            if locked is not None and Version(locked) != Version(version):
                raise ValueError(
                    f"layer {self.name}: {requirement.name}=={version} differs from {self.lock_file.name} "
                    f"({locked}); layers must match the project's lock"
                )
            pins[name] = version
        closure = lock.closure(pins, stop=self.excluded())
        pins.update({name: lock.pins[name] for name in closure if name not in pins})
        return dict(sorted(pins.items()))

    def bytecode_tag(self) -> str:
        """'cpython-312' when a 3.12 interpreter can precompile here, else 'none' (part of the key)."""
        return "cpython-" + self.python_version.replace(".", "") if toolchain.find_python312() else "none"

    def cache_key(self) -> str:
        """sha256 over everything that decides the layer's content; also the CDK asset hash."""
        material: dict[str, Any] = {
            "bundler": BUNDLER_VERSION,
            "python": self.python_version,
            "architecture": self.architecture,
            "platform": manylinux_tags(self.architecture)[0],
            "requirements": sorted(str(r) for r in self.requirements()),
            "exclude": sorted(self.excluded()),
            "prune": self.prune_globs(),
            "pins": self.pinned(),
            "bytecode": self.bytecode_tag(),
        }
        return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def marker_environment(spec: LayerSpec) -> dict[str, str]:
    """PEP 508 marker values of Lambda's runtime for `spec`, to read dependencies as it would."""
    return {
        "implementation_name": "cpython",
        "os_name": "posix",
        "platform_machine": MACHINES[spec.architecture],
        "platform_python_implementation": "CPython",
        "platform_system": "Linux",
        "python_full_version": f"{spec.python_version}.0",
        "python_version": spec.python_version,
        "sys_platform": "linux",
    }

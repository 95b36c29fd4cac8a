"""Size check: every function's code plus layers, unzipped, against Lambda's limit and our budgets.

`python -m infra.layer_sizes [--architecture arm64|x86_64]` builds (or takes from the cache) every
layer, prints a table and exits 1 when a function would not deploy (over 250 MB) or predict is over
its cold-start budget. Deploying is the expensive place to find out.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from infra.function_layers import FUNCTION_LAYERS, LAYER_NAMES, MIB, budget_for
from infra.layer_bundling.cache import BuiltLayer, build_layer
from infra.layer_bundling.spec import LayerSpec, architecture_name
from infra.paths import FUNCTIONS_DIR

# Mirrors what the function code asset leaves out (PlatformFunction's excludes).
_CODE_EXCLUDED_DIRS = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
_CODE_EXCLUDED_SUFFIXES = frozenset({".pyc"})


@dataclass(frozen=True)
class FunctionSize:
    """One function's unzipped footprint and the budget it must fit."""

    function: str
    layers: tuple[str, ...]
    code_bytes: int
    total_bytes: int
    budget_bytes: int

    @property
    def ok(self) -> bool:
        return self.total_bytes <= self.budget_bytes


@dataclass(frozen=True)
class SizeReport:
    """Built layers and per-function totals for one architecture."""

    architecture: str
    layers: Mapping[str, BuiltLayer]
    code_bytes: int
    functions: Sequence[FunctionSize]
    seconds: float

    @property
    def violations(self) -> list[FunctionSize]:
        return [f for f in self.functions if not f.ok]


def code_size(functions_dir: Path = FUNCTIONS_DIR) -> int:
    """Unzipped bytes of the one code asset every function ships."""
    total = 0
    for dirpath, dirnames, filenames in os.walk(functions_dir):
        dirnames[:] = [d for d in dirnames if d not in _CODE_EXCLUDED_DIRS]
        for filename in filenames:
            if os.path.splitext(filename)[1] not in _CODE_EXCLUDED_SUFFIXES:
                total += os.lstat(os.path.join(dirpath, filename)).st_size
    return total


def size_report(
    architecture: str = "arm64", *, cache_root: Path | None = None, functions_dir: Path = FUNCTIONS_DIR
) -> SizeReport:
    """Build or reuse every layer for `architecture` and total each function."""
    started = time.monotonic()
    arch = architecture_name(architecture)
    layers = {name: build_layer(LayerSpec.for_layer(name, arch), cache_root=cache_root) for name in LAYER_NAMES}
    code = code_size(functions_dir)
    functions = [
        FunctionSize(
            function=function,
            layers=names,
            code_bytes=code,
            total_bytes=code + sum(layers[name].size_bytes for name in names),
            budget_bytes=budget_for(function),
        )
        for function, names in FUNCTION_LAYERS.items()
    ]
    return SizeReport(arch, layers, code, functions, time.monotonic() - started)


def _mib(value: int) -> str:
    return f"{value / MIB:.1f}"


def format_report(report: SizeReport) -> str:
    """Plain-text tables (MiB = 2**20 bytes, the unit of Lambda's 250 MB limit)."""
    lines = [f"Lambda layers, {report.architecture}, unzipped (MiB)", ""]
    lines.append(f"{'layer':<12}{'MiB':>8}{'files':>8}  {'from':<7}{'installer':<10}{'bytecode':<12}key")
    for name, layer in report.layers.items():
        manifest = layer.manifest
        lines.append(
            f"{name:<12}{_mib(layer.size_bytes):>8}{manifest['files']:>8}  "
            f"{'cache' if layer.from_cache else 'build':<7}{manifest['installer']:<10}{manifest['bytecode']:<12}"
            f"{layer.key[:12]}"
        )
    lines += ["", f"Functions: code asset {_mib(report.code_bytes)} MiB + layers, unzipped (MiB)", ""]
    lines.append(f"{'function':<15}{'layers':<24}{'total':>8}{'budget':>8}{'headroom':>10}  status")
    for size in report.functions:
        lines.append(
            f"{size.function:<15}{'+'.join(size.layers):<24}{_mib(size.total_bytes):>8}"
            f"{_mib(size.budget_bytes):>8}{_mib(size.budget_bytes - size.total_bytes):>10}  "
            f"{'ok' if size.ok else 'OVER BUDGET'}"
        )
    lines += ["", f"checked in {report.seconds:.1f}s"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.layer_sizes", description=__doc__)
    parser.add_argument("--architecture", choices=["arm64", "x86_64"], default="arm64")
    args = parser.parse_args(argv)
    report = size_report(args.architecture)
    print(format_report(report))
    for size in report.violations:
        print(
            f"error: {size.function} is {_mib(size.total_bytes)} MiB unzipped, over its "
            f"{_mib(size.budget_bytes)} MiB budget ({'+'.join(size.layers)} + code)",
            file=sys.stderr,
        )
    return 1 if report.violations else 0


if __name__ == "__main__":
    sys.exit(main())

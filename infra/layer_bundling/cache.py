"""Where built layers live, outside the checkout, and how one is reused instead of built again.

An entry is `<cache root>/<name>-<architecture>-<key>/`; it counts only once its manifest is written,
after an atomic rename, so an interrupted build is never taken for a finished one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.layer_bundling.build import build_into
from infra.layer_bundling.spec import LayerSpec


def default_cache_root() -> Path:
    """Outside the checkout, so a clean clone or `rm -rf cdk.out` keeps built layers."""
    override = os.environ.get("SERVERLESS_MLOPS_LAYER_CACHE")
    if override:
        return Path(override).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "serverless-mlops" / "layers"


@dataclass(frozen=True)
class BuiltLayer:
    """A layer in the cache: `path/python/` is what the zip holds; `manifest` says what and how."""

    spec: LayerSpec
    key: str
    path: Path
    manifest: Mapping[str, Any]
    from_cache: bool

    @property
    def python_dir(self) -> Path:
        return self.path / "python"

    @property
    def size_bytes(self) -> int:
        return int(self.manifest["size_bytes"])


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """One builder per key across processes (pytest-xdist, parallel synths)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: the atomic rename still keeps the cache sound
        yield
        return
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_layer(spec: LayerSpec, *, cache_root: Path | None = None) -> BuiltLayer:
    """The built layer for `spec`, from the cache when present, else built into it."""
    root = cache_root or default_cache_root()
    root.mkdir(parents=True, exist_ok=True)
    key = spec.cache_key()
    entry = root / f"{spec.name}-{spec.architecture}-{key}"
    manifest_path = entry / "manifest.json"
    if manifest_path.is_file():
        return BuiltLayer(spec, key, entry, json.loads(manifest_path.read_text()), from_cache=True)
    (root / ".locks").mkdir(exist_ok=True)
    with _exclusive(root / ".locks" / f"{entry.name}.lock"):
        if manifest_path.is_file():
            return BuiltLayer(spec, key, entry, json.loads(manifest_path.read_text()), from_cache=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=root))
        staging.chmod(0o755)
        try:
            manifest = build_into(spec, key, staging)
            (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
            if entry.exists():  # an interrupted copy without its manifest: never trusted
                shutil.rmtree(entry)
            os.rename(staging, entry)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return BuiltLayer(spec, key, entry, manifest, from_cache=False)


def copy_tree(source: Path, destination: Path) -> None:
    """Hard-link the cached tree (fast, nothing writes to it), copying where links are impossible."""

    def link_or_copy(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, destination, copy_function=link_or_copy, dirs_exist_ok=True)

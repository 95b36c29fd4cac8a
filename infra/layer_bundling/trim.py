"""What never ships (tests, sources, headers, the layer's prune.txt) and bytecode for what does."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Final

from infra.layer_bundling import log
from infra.layer_bundling.spec import LayerSpec
from infra.layer_bundling.toolchain import find_python312

# Source and build leftovers Lambda never reads (dist-info is kept whole; `*.libs` is never touched).
_TRIM_SUFFIXES: Final = frozenset({".pyx", ".pxd", ".pxi", ".c", ".cc", ".cpp", ".h", ".hpp", ".a"})
_TRIM_DIRS: Final = frozenset({"tests", "__pycache__"})


def trim(spec: LayerSpec, target: Path) -> None:
    """Delete what Lambda never imports: tests, foreign bytecode, sources, headers, console scripts."""
    shutil.rmtree(target / "bin", ignore_errors=True)
    (target / ".lock").unlink(missing_ok=True)  # uv's lock on the target directory
    for dirpath, dirnames, filenames in os.walk(target, topdown=True):
        for dirname in [d for d in dirnames if d in _TRIM_DIRS]:
            shutil.rmtree(os.path.join(dirpath, dirname))
        # dist-info stays whole (licenses, RECORD): do not descend into it.
        dirnames[:] = [d for d in dirnames if d not in _TRIM_DIRS and not d.endswith(".dist-info")]
        for filename in filenames:
            if os.path.splitext(filename)[1] in _TRIM_SUFFIXES:
                os.unlink(os.path.join(dirpath, filename))
    pruned_libraries: set[str] = set()
    for pattern in spec.prune_globs():
        matches = sorted(target.glob(pattern))
        if not matches:
            log(f"{spec.name}/{spec.architecture}: prune pattern {pattern!r} matched nothing")
        for path in matches:
            if path.is_dir() and not path.is_symlink():
                pruned_libraries.update(p.name for p in path.rglob("*.so*"))
                shutil.rmtree(path)
            elif path.exists():
                pruned_libraries.add(path.name)
                path.unlink()
    remove_empty_dirs(target)
    _check_needed(spec, target, pruned_libraries)
    _make_readable(target)


def _make_readable(target: Path) -> None:
    """Lambda runs as an unprivileged user: every file readable, every directory searchable."""
    for dirpath, dirnames, filenames in os.walk(target):
        for name in dirnames:
            _add_mode(os.path.join(dirpath, name), 0o555)
        for name in filenames:
            _add_mode(os.path.join(dirpath, name), 0o444)


def _add_mode(path: str, bits: int) -> None:
    mode = os.lstat(path).st_mode
    if mode & bits != bits:  # rarely true: uv hard-links from its cache, so leave inodes alone when possible
        os.chmod(path, mode | bits)


def _check_needed(spec: LayerSpec, target: Path, pruned: set[str]) -> None:
    """Fail the build, not the Lambda, when a kept shared library needs one prune.txt removed."""
    if not pruned:
        return
    broken = [
        f"{library.relative_to(target)} needs {needed}"
        for library in sorted(target.rglob("*.so*"))
        if library.is_file()
        for needed in elf_needed(library)
        if needed in pruned
    ]
    if broken:
        raise RuntimeError(
            f"layer {spec.name}/{spec.architecture}: prune.txt removed libraries still in use:\n  "
            + "\n  ".join(broken)
        )


def elf_needed(path: Path) -> list[str]:
    """DT_NEEDED entries of a 64-bit little-endian ELF file (both Lambda architectures), else []."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:  # ELFCLASS64, ELFDATA2LSB
        return []
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQII", data, shoff + i * shentsize) for i in range(shnum)]
    needed: list[str] = []
    for _name, sh_type, _flags, _addr, offset, size, link, _info in sections:
        if sh_type != 6:  # SHT_DYNAMIC
            continue
        strtab = sections[link][4]
        for entry in range(offset, offset + size, 16):
            tag, value = struct.unpack_from("<qQ", data, entry)
            if tag == 0:  # DT_NULL
                break
            if tag == 1:  # DT_NEEDED
                end = data.index(b"\0", strtab + value)
                needed.append(data[strtab + value : end].decode())
    return needed


def remove_empty_dirs(root: Path) -> None:
    for dirpath, _dirnames, _filenames in os.walk(root, topdown=False):
        if dirpath != str(root) and not os.listdir(dirpath):
            os.rmdir(dirpath)


def precompile(spec: LayerSpec, target: Path) -> str:
    """Write cpython-312 .pyc (unchecked-hash: /opt is read-only, cold imports ~3x faster)."""
    python = find_python312()
    if python is None:
        log(
            f"{spec.name}/{spec.architecture}: no Python {spec.python_version} interpreter found "
            "(set SERVERLESS_MLOPS_PYTHON312); shipping without precompiled bytecode"
        )
        return "none"
    command = [
        python,
        "-m",
        "compileall",
        "-q",
        "-j",
        "0",
        "--invalidation-mode",
        "unchecked-hash",
        "-s",
        str(target),
        "-p",
        "/opt/python",
        str(target),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        log(f"{spec.name}/{spec.architecture}: some files did not compile (left as source):\n{result.stdout}")
    return spec.bytecode_tag()

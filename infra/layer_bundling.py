"""Lambda layers built without Docker: installed for the Lambda platform, trimmed, cached, size-known.

`python_layer` is what constructs call. The asset hash is the layer's cache key (requirements,
architecture, Python version, the lock pins the layer installs, bundler version), so synthesis
never needs Docker and a layer changes exactly when what it installs changes. A built layer lives in
`${XDG_CACHE_HOME:-~/.cache}/serverless-mlops/layers/`, outside the checkout; later synths copy
(hard-link) it from there.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Final

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_
from constructs import Construct
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from infra.paths import LAYERS_DIR, PROJECT_ROOT

# Bump when the build recipe changes (tags, trimming, compile flags): it invalidates every cached layer.
BUNDLER_VERSION: Final = "2"
PYTHON_VERSION: Final = "3.12"
LOCK_FILE: Final = PROJECT_ROOT / "requirements" / "dev.lock"
# Lambda's python3.12 runtime is Amazon Linux 2023 (glibc 2.34): any manylinux tag up to 2_34 runs.
GLIBC_MAX_MINOR: Final = 34
GLIBC_MIN_MINOR: Final = 17
# Never shipped: the runtime has them, and a layer copy would shadow the runtime's boto3.
RUNTIME_PROVIDED: Final = frozenset({"boto3", "botocore", "s3transfer", "urllib3"})
# Never used (local bundling always runs or raises), but CDK requires an image.
DOCKER_IMAGE: Final = "public.ecr.aws/sam/build-python3.12"
# Source and build leftovers Lambda never reads (dist-info is kept whole; `*.libs` is never touched).
_TRIM_SUFFIXES: Final = frozenset({".pyx", ".pxd", ".pxi", ".c", ".cc", ".cpp", ".h", ".hpp", ".a"})
_TRIM_DIRS: Final = frozenset({"tests", "__pycache__"})
_ARCHITECTURES: Final = {"arm64": "aarch64", "x86_64": "x86_64"}
_VIA_PARENT = re.compile(r"^\s*#\s+(?:via\s+)?([A-Za-z0-9][A-Za-z0-9._-]*)")


def _log(message: str) -> None:
    print(f"[layer_bundling] {message}", file=sys.stderr, flush=True)


def architecture_name(architecture: lambda_.Architecture | str) -> str:
    """'arm64' or 'x86_64' (Lambda's names), from a CDK Architecture or a string."""
    name = architecture if isinstance(architecture, str) else architecture.name
    if name not in _ARCHITECTURES:
        raise ValueError(f"unsupported Lambda architecture {name!r}; expected one of {sorted(_ARCHITECTURES)}")
    return name


def manylinux_tags(architecture: str) -> list[str]:
    """Every manylinux tag Lambda's glibc accepts, newest first: pip needs them all, not one."""
    machine = _ARCHITECTURES[architecture_name(architecture)]
    tags = [f"manylinux_2_{minor}_{machine}" for minor in range(GLIBC_MAX_MINOR, GLIBC_MIN_MINOR - 1, -1)]
    return [*tags, f"manylinux2014_{machine}"]


def default_cache_root() -> Path:
    """Outside the checkout, so a clean clone or `rm -rf cdk.out` keeps built layers."""
    override = os.environ.get("SERVERLESS_MLOPS_LAYER_CACHE")
    if override:
        return Path(override).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "serverless-mlops" / "layers"


# --------------------------------------------------------------------------------------------------
# The project's lock: exact pins and the dependency graph its "# via" comments record.


@dataclass(frozen=True)
class Lock:
    """Pins of requirements/dev.lock and, per package, the packages that depend on it."""

    pins: Mapping[str, str]
    parents: Mapping[str, frozenset[str]]

    @classmethod
    def read(cls, path: Path) -> Lock:
        return cls.parse(path.read_text())

    @classmethod
    def parse(cls, text: str) -> Lock:
        pins: dict[str, str] = {}
        parents: dict[str, set[str]] = {}
        current: str | None = None
        for raw in text.splitlines():
            line = raw.rstrip(" \\")
            if line and not line[0].isspace() and not line.startswith(("#", "-")):
                requirement = Requirement(line.split(";")[0].strip())
                current = canonicalize_name(requirement.name)
                pins[current] = next(iter(requirement.specifier)).version
                parents.setdefault(current, set())
                continue
            match = _VIA_PARENT.match(line)
            if current and match and match.group(1) not in {"via", "-r", "-c"}:
                parents[current].add(canonicalize_name(match.group(1)))
        return cls(pins=pins, parents={name: frozenset(p) for name, p in parents.items()})

    def closure(self, roots: Iterable[str], *, stop: Iterable[str] = ()) -> set[str]:
        """Packages installing `roots` pulls in according to the lock, not descending into `stop`."""
        children: dict[str, set[str]] = {}
        for child, parents in self.parents.items():
            for parent in parents:
                children.setdefault(parent, set()).add(child)
        blocked = {canonicalize_name(name) for name in stop}
        todo: list[str] = [canonicalize_name(name) for name in roots]
        seen: set[str] = set()
        while todo:
            name = todo.pop()
            if name in seen or name in blocked:
                continue
            seen.add(name)
            todo.extend(children.get(name, ()))
        return {name for name in seen if name in self.pins}


# --------------------------------------------------------------------------------------------------
# One layer's specification: its directory under layers/ plus where and for what it is built.


def _spec_lines(path: Path) -> list[str]:
    """Meaningful lines of a layer file: comments and blanks do not change a layer."""
    if not path.exists():
        return []
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def _python312_candidates() -> Iterator[str]:
    explicit = os.environ.get("SERVERLESS_MLOPS_PYTHON312")
    if explicit:
        yield explicit
    on_path = shutil.which("python3.12")
    if on_path:
        yield on_path
    yield from sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12")), reverse=True)
    yield from ("/usr/bin/python3.12", "/usr/local/bin/python3.12", "/opt/homebrew/bin/python3.12")
    uv = find_uv()
    if uv:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            found = subprocess.run(
                [uv, "python", "find", "--no-python-downloads", PYTHON_VERSION],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            if found.returncode == 0 and found.stdout.strip():
                yield found.stdout.strip()


@functools.cache
def find_python312() -> str | None:
    """A Python 3.12 interpreter to precompile with (bytecode is version-specific), or None.

    Each candidate is run, not trusted by name: a pyenv shim named python3.12 may fail to start.
    """
    probe = "import sys; print('%d.%d' % sys.version_info[:2])"
    for candidate in _python312_candidates():
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            result = subprocess.run([candidate, "-c", probe], capture_output=True, text=True, timeout=30, check=False)
            if result.returncode == 0 and result.stdout.strip() == PYTHON_VERSION:
                return candidate
    return None


@functools.cache
def find_uv() -> str | None:
    """uv from this environment, the `uv` package or PATH; None means fall back to pip."""
    beside = Path(sys.executable).parent / "uv"
    if beside.is_file():
        return str(beside)
    with contextlib.suppress(ImportError, FileNotFoundError):
        from uv import find_uv_bin  # type: ignore[import-not-found,unused-ignore]

        return str(find_uv_bin())
    return shutil.which("uv")


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
        return _parse_lock(self.lock_file.read_text())

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
        return "cpython-" + self.python_version.replace(".", "") if find_python312() else "none"

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


@functools.lru_cache(maxsize=8)
def _parse_lock(text: str) -> Lock:
    return Lock.parse(text)


# --------------------------------------------------------------------------------------------------
# Building: install for the Lambda platform, drop what must not ship, trim, precompile, cache.


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


def tree_size(root: Path) -> tuple[int, int]:
    """(bytes, files) as Lambda counts them: every file's full size, unzipped."""
    total = count = 0
    for dirpath, _dirnames, filenames in os.walk(root):
        for filename in filenames:
            total += os.lstat(os.path.join(dirpath, filename)).st_size
            count += 1
    return total, count


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
            manifest = _build_into(spec, key, staging)
            (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
            if entry.exists():  # an interrupted copy without its manifest: never trusted
                shutil.rmtree(entry)
            os.rename(staging, entry)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return BuiltLayer(spec, key, entry, manifest, from_cache=False)


def _build_into(spec: LayerSpec, key: str, staging: Path) -> dict[str, Any]:
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
        tool = _install(spec, target, requirements=requirements, constraints=constraints, excludes=excludes)
    installed_after = time.monotonic() - started
    # Excluded distributions, then whatever only they pulled in (pip installs botocore's
    # python-dateutil and six for aws-xray-sdk; uv never installs them thanks to --excludes).
    removed = [name for name in sorted(spec.excluded()) if _uninstall(target, name)]
    keep = reachable_distributions(spec, target)
    removed += [name for name in sorted(_installed(target).keys() - keep) if _uninstall(target, name)]
    installed = _installed(target)
    _verify(spec, installed, pins)
    _trim(spec, target)
    compile_started = time.monotonic()
    bytecode = _precompile(spec, target)
    compile_seconds = time.monotonic() - compile_started
    size, files = tree_size(target)
    elapsed = time.monotonic() - started
    _log(f"{spec.name}/{spec.architecture}: built with {tool} in {elapsed:.1f}s, {size / 2**20:.1f} MiB, {files} files")
    return {
        "name": spec.name,
        "architecture": spec.architecture,
        "python": spec.python_version,
        "key": key,
        "bundler": BUNDLER_VERSION,
        "installer": tool,
        "bytecode": bytecode,
        "distributions": installed,
        "removed": removed,
        "size_bytes": size,
        "files": files,
        "build_seconds": round(elapsed, 2),
        "install_seconds": round(installed_after, 2),
        "compile_seconds": round(compile_seconds, 2),
    }


def _install(spec: LayerSpec, target: Path, *, requirements: Path, constraints: Path, excludes: Path) -> str:
    """Install wheels only, for Lambda's platform and Python; returns the tool used."""
    forced = os.environ.get("SERVERLESS_MLOPS_LAYER_INSTALLER", "").strip().lower()
    uv = find_uv() if forced != "pip" else None
    if forced == "uv" and not uv:
        raise RuntimeError("SERVERLESS_MLOPS_LAYER_INSTALLER=uv but no uv executable was found")
    if uv:
        machine = _ARCHITECTURES[spec.architecture]
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


def _installed(target: Path) -> dict[str, str]:
    found = {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions(path=[str(target)])}
    return dict(sorted(found.items()))


def marker_environment(spec: LayerSpec) -> dict[str, str]:
    """PEP 508 marker values of Lambda's runtime for `spec`, to read dependencies as it would."""
    return {
        "implementation_name": "cpython",
        "os_name": "posix",
        "platform_machine": _ARCHITECTURES[spec.architecture],
        "platform_python_implementation": "CPython",
        "platform_system": "Linux",
        "python_full_version": f"{spec.python_version}.0",
        "python_version": spec.python_version,
        "sys_platform": "linux",
    }


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


def _uninstall(target: Path, name: str) -> str | None:
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
        _remove_empty_dirs(target)
        return name
    return None


def _verify(spec: LayerSpec, installed: Mapping[str, str], pins: Mapping[str, str]) -> None:
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


def _trim(spec: LayerSpec, target: Path) -> None:
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
            _log(f"{spec.name}/{spec.architecture}: prune pattern {pattern!r} matched nothing")
        for path in matches:
            if path.is_dir() and not path.is_symlink():
                pruned_libraries.update(p.name for p in path.rglob("*.so*"))
                shutil.rmtree(path)
            elif path.exists():
                pruned_libraries.add(path.name)
                path.unlink()
    _remove_empty_dirs(target)
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


def _remove_empty_dirs(root: Path) -> None:
    for dirpath, _dirnames, _filenames in os.walk(root, topdown=False):
        if dirpath != str(root) and not os.listdir(dirpath):
            os.rmdir(dirpath)


def _precompile(spec: LayerSpec, target: Path) -> str:
    """Write cpython-312 .pyc (unchecked-hash: /opt is read-only, cold imports ~3x faster)."""
    python = find_python312()
    if python is None:
        _log(
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
        _log(f"{spec.name}/{spec.architecture}: some files did not compile (left as source):\n{result.stdout}")
    return spec.bytecode_tag()


def copy_tree(source: Path, destination: Path) -> None:
    """Hard-link the cached tree (fast, nothing writes to it), copying where links are impossible."""

    def link_or_copy(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, destination, copy_function=link_or_copy, dirs_exist_ok=True)


# --------------------------------------------------------------------------------------------------
# CDK: the local bundler and the layer constructs call.


@jsii.implements(cdk.ILocalBundling)
class LocalLayerBundler:
    """CDK's hook for bundling without Docker: builds (or reuses) the layer and copies it out."""

    def __init__(self, spec: LayerSpec, *, cache_root: Path | None = None) -> None:
        self._spec = spec
        self._cache_root = cache_root

    def try_bundle(self, output_dir: str, *, image: cdk.DockerImage, **_options: Any) -> bool:
        started = time.monotonic()
        built = build_layer(self._spec, cache_root=self._cache_root)
        copy_tree(built.python_dir, Path(output_dir) / "python")
        source = "cache" if built.from_cache else "fresh build"
        _log(
            f"{self._spec.name}/{self._spec.architecture}: {built.size_bytes / 2**20:.1f} MiB from {source} "
            f"in {time.monotonic() - started:.1f}s"
        )
        return True


def python_layer(
    scope: Construct,
    id: str,
    *,
    name: str,
    architecture: lambda_.Architecture,
    description: str,
) -> lambda_.LayerVersion:
    """A Python 3.12 layer from `layers/<name>/requirements.txt`, bundled locally for `architecture`."""
    spec = LayerSpec.for_layer(name, architecture)
    arch = spec.architecture
    bundling = cdk.BundlingOptions(
        image=cdk.DockerImage.from_registry(DOCKER_IMAGE),
        local=LocalLayerBundler(spec),
        command=["bash", "-c", "echo 'layers are bundled locally by infra/layer_bundling.py' >&2; exit 1"],
        environment={"LAYER_NAME": name, "LAYER_ARCHITECTURE": arch, "LAYER_PYTHON_VERSION": spec.python_version},
        platform=f"linux/{'arm64' if arch == 'arm64' else 'amd64'}",
        output_type=cdk.BundlingOutput.NOT_ARCHIVED,
    )
    code = lambda_.Code.from_asset(
        str(spec.layer_dir),
        asset_hash=spec.cache_key(),
        asset_hash_type=cdk.AssetHashType.CUSTOM,
        bundling=bundling,
    )
    return lambda_.LayerVersion(
        scope,
        id,
        code=code,
        compatible_runtimes=[lambda_.Runtime.PYTHON_3_12],
        compatible_architectures=[architecture],
        description=description,
    )

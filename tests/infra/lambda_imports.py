"""What a Lambda function has on AWS, rebuilt on this machine, and what its handler loads from it.

The development virtualenv holds every dependency of every function, so importing a handler there
proves nothing about the function's layers. Here each function gets a directory holding only what
AWS gives it: the distributions of its layers (read from the venv's metadata with the bundler's own
rule, `reachable_distributions`) and those of the Lambda runtime, linked from the venv's
site-packages. The handler's module is imported in a fresh interpreter (`python -S`: no
site-packages, no `.pth` files) whose path is the code asset (`functions/`), that directory and the
standard library. An import the function does not ship then fails as it would on AWS, optional
imports take the branch they take there, and every module that did load is mapped back to the
distribution that installed it.

`tests/infra/static_imports.py` complements this for imports that run later than module import
(inside function bodies, or through a package's lazy `__getattr__`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any, Final

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from infra.layer_bundling.install import reachable_distributions
from infra.layer_bundling.spec import LayerSpec, marker_environment

# "The Lambda Python runtimes include the AWS SDK for Python (Boto3) and its dependencies"
# (https://docs.aws.amazon.com/lambda/latest/dg/python-package.html, "Runtime dependencies in
# Python"; see also https://docs.aws.amazon.com/lambda/latest/dg/lambda-python.html, "Runtime-included
# SDK versions"). boto3's dependency closure is these seven; `runtime_sdk_closure` checks it still is.
LAMBDA_RUNTIME_DISTRIBUTIONS: Final = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"}
)
# Standard-library modules of this (3.11) interpreter that Python 3.12, the functions' runtime, lacks.
REMOVED_IN_PY312: Final = frozenset({"asynchat", "asyncore", "distutils", "imp", "smtpd"})
CODE = "code asset"
STDLIB = "standard library"
RUNTIME = "Lambda runtime"
MADE_AT_RUNTIME = "made at runtime"  # module objects that loaded code creates (Cython's, six.moves)
NOT_SHIPPED = "not shipped"
_ALIASES_OF_MAIN: Final = frozenset({"__main__", "__mp_main__"})

# Runs in the child interpreter: import the module, check the handlers are callables, then report
# sys.modules (file, spec origin, namespace search path, whether it has a spec) and any import error.
_PROBE = """
import importlib, json, sys, traceback
module_name, attributes, out = sys.argv[1], sys.argv[2].split(","), sys.argv[3]
error = missing = None
not_callable = []
try:
    module = importlib.import_module(module_name)
    not_callable = [a for a in attributes if a and not callable(getattr(module, a, None))]
except BaseException as exc:
    error = "".join(traceback.format_exception(exc))
    cause = exc
    while cause is not None and missing is None:
        if isinstance(cause, ModuleNotFoundError):
            missing = cause.name
        cause = cause.__cause__ or cause.__context__
modules = {}
for name, loaded in list(sys.modules.items()):
    spec = getattr(loaded, "__spec__", None)
    locations = getattr(spec, "submodule_search_locations", None)
    modules[name] = [
        getattr(loaded, "__file__", None),
        getattr(spec, "origin", None),
        list(locations) if locations is not None else None,
        spec is not None,
    ]
report = {"error": error, "missing": missing, "not_callable": not_callable, "modules": modules}
with open(out, "w") as handle:
    json.dump(report, handle)
"""


# --------------------------------------------------------------------------------------------------
# The venv's site-packages as distributions, each with the files its RECORD lists.


@dataclass(frozen=True)
class SitePackages:
    """Which distributions own each file and directory of one site-packages directory."""

    root: Path
    files: Mapping[PurePosixPath, frozenset[str]]
    dirs: Mapping[PurePosixPath, frozenset[str]]
    children: Mapping[PurePosixPath, frozenset[str]]

    @classmethod
    def read(cls, root: Path | None = None) -> SitePackages:
        root = (root or Path(sysconfig.get_paths()["purelib"])).resolve()
        files: dict[PurePosixPath, set[str]] = {}
        dirs: dict[PurePosixPath, set[str]] = {}
        children: dict[PurePosixPath, set[str]] = {}
        for dist in metadata.distributions(path=[str(root)]):
            name = canonicalize_name(dist.metadata["Name"])
            for record in dist.files or ():
                path = PurePosixPath(record.as_posix())
                if not path.parts or path.parts[0] == "..":  # console scripts, data outside site-packages
                    continue
                files.setdefault(path, set()).add(name)
                for parent, child in zip(path.parents, (path, *path.parents), strict=False):
                    dirs.setdefault(parent, set()).add(name)
                    children.setdefault(parent, set()).add(child.name)
        return cls(
            root=root,
            files={k: frozenset(v) for k, v in files.items()},
            dirs={k: frozenset(v) for k, v in dirs.items()},
            children={k: frozenset(v) for k, v in children.items()},
        )

    def owners(self, relative: PurePosixPath) -> frozenset[str]:
        """Distributions that installed this file or directory, else those of its nearest known directory."""
        if relative in self.files:
            return self.files[relative]
        for path in (relative, *relative.parents):
            if path != PurePosixPath(".") and path in self.dirs:
                return self.dirs[path]
        return frozenset()

    def providers(self, module: str) -> frozenset[str]:
        """Distributions that install top-level module `module` (a package, a .py or an extension)."""
        top = module.partition(".")[0]
        found: set[str] = set(self.dirs.get(PurePosixPath(top), ()))
        for name in self.children.get(PurePosixPath("."), ()):
            if name.partition(".")[0] == top and PurePosixPath(name).suffix in {".py", ".so", ".pyd"}:
                found |= self.files.get(PurePosixPath(name), frozenset())
        return frozenset(found)

    def link_tree(self, allowed: Iterable[str], destination: Path) -> Path:
        """`destination` holding only what the `allowed` distributions installed (symlinks into root).

        A directory whose files all belong to allowed distributions is linked whole; one shared with
        other distributions (a namespace package such as `google`) is recreated and filled entry by entry.
        """
        keep = frozenset(allowed)
        destination.mkdir(parents=True, exist_ok=True)

        def fill(relative: PurePosixPath) -> None:
            for name in sorted(self.children.get(relative, ())):
                child = relative / name
                owners = self.files.get(child) or self.dirs.get(child, frozenset())
                if not owners & keep or not (self.root / child).exists():
                    continue
                if child in self.files or owners <= keep:
                    (destination / child).symlink_to(self.root / child)
                else:
                    (destination / child).mkdir()
                    fill(child)

        fill(PurePosixPath("."))
        return destination


def _requirement_closure(roots: Iterable[str], environment: Mapping[str, str]) -> set[str]:
    """Installed distributions that `roots` pull in, extras and markers read for `environment`."""
    todo = [(canonicalize_name(root), frozenset[str]()) for root in roots]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for line in requires:
            requirement = Requirement(line)
            marker = requirement.marker
            if marker is None or any(marker.evaluate({**environment, "extra": e}) for e in extras or {""}):
                todo.append((canonicalize_name(requirement.name), frozenset(requirement.extras)))
    return {name for name, _extras in seen}


def runtime_sdk_closure(architecture: str = "arm64") -> set[str]:
    """boto3 and everything it requires on Lambda's platform, from the venv's metadata."""
    return _requirement_closure(["boto3"], marker_environment(LayerSpec.for_layer("powertools", architecture)))


# --------------------------------------------------------------------------------------------------
# One function: what it ships, and what its handler loaded.


@dataclass(frozen=True)
class Shipped:
    """What a function has on Lambda besides the standard library and its code asset."""

    layers: tuple[str, ...]
    layer_of: Mapping[str, str]  # distribution -> the first of the function's layers that ships it
    runtime: frozenset[str] = LAMBDA_RUNTIME_DISTRIBUTIONS

    @classmethod
    def for_layers(cls, layers: Iterable[str], site: SitePackages, architecture: str = "arm64") -> Shipped:
        names = tuple(layers)
        layer_of: dict[str, str] = {}
        for layer in names:
            for dist in sorted(reachable_distributions(LayerSpec.for_layer(layer, architecture), site.root)):
                layer_of.setdefault(dist, layer)
        return cls(layers=names, layer_of=layer_of)

    @property
    def distributions(self) -> frozenset[str]:
        return frozenset(self.layer_of) | self.runtime

    def where(self, distribution: str) -> str:
        if distribution in self.layer_of:
            return f"layer {self.layer_of[distribution]}"
        return RUNTIME if distribution in self.runtime else NOT_SHIPPED

    def describe(self) -> str:
        return f"layers {'+'.join(self.layers) or '(none)'} and the runtime's SDK"


@dataclass(frozen=True)
class Loaded:
    """One module of the child's sys.modules: where it came from."""

    module: str
    source: str  # CODE, STDLIB, RUNTIME, MADE_AT_RUNTIME, "layer <name>" or NOT_SHIPPED
    distribution: str | None = None
    detail: str = ""

    @property
    def shipped(self) -> bool:
        return self.source != NOT_SHIPPED


@dataclass(frozen=True)
class Probe:
    """A handler module imported with only what its function ships."""

    module: str
    shipped: Shipped
    loaded: tuple[Loaded, ...]
    error: str | None
    missing: str | None
    missing_from: frozenset[str]
    not_callable: tuple[str, ...]
    seconds: float

    @property
    def violations(self) -> list[str]:
        """Each thing that would break on AWS, as a sentence."""
        problems: list[str] = []
        if self.error is not None and self.missing:
            providers = ", ".join(sorted(self.missing_from)) or "no installed distribution"
            problems.append(
                f"import fails: No module named {self.missing!r} (installed by {providers}; "
                f"not in {self.shipped.describe()})"
            )
        elif self.error is not None:
            problems.append("import fails:\n" + self.error.strip()[-3000:])
        problems += [f"{self.module}.{name} is not a callable" for name in self.not_callable]
        problems += [
            f"loads {item.module} from {item.distribution or 'an unknown place'}, which is not in "
            f"{self.shipped.describe()} ({item.detail})"
            for item in self.loaded
            if not item.shipped
        ]
        return problems

    def distributions(self) -> set[str]:
        return {item.distribution for item in self.loaded if item.distribution}

    def modules(self) -> set[str]:
        return {item.module for item in self.loaded}


def forbidden_loaded(probe: Probe, forbidden: Iterable[str], site: SitePackages) -> set[str]:
    """Forbidden distributions that `probe` loaded, by file or by a module name they install."""
    names = {canonicalize_name(name) for name in forbidden}
    by_name = {dist for module in probe.modules() for dist in site.providers(module) if dist in names}
    return (probe.distributions() & names) | by_name


@dataclass(frozen=True)
class Sandbox:
    """The directory a function's handler imports from, besides its code asset and the stdlib."""

    path: Path
    site: SitePackages
    shipped: Shipped

    @classmethod
    def build(cls, site: SitePackages, shipped: Shipped, destination: Path) -> Sandbox:
        return cls(site.link_tree(shipped.distributions, destination), site, shipped)


def stdlib_roots() -> tuple[Path, ...]:
    """The base interpreter's stdlib directories (a venv's platstdlib would hold site-packages)."""
    base = {"base": sys.base_prefix, "platbase": sys.base_exec_prefix, "installed_base": sys.base_prefix}
    return tuple(sorted({Path(sysconfig.get_path(key, vars=base)).resolve() for key in ("stdlib", "platstdlib")}))


def _within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def classify(modules: Mapping[str, Sequence[Any]], sandbox: Sandbox, code_dir: Path) -> list[Loaded]:
    """Each loaded module's source; modules without a file inherit their parent package's."""
    stdlib = stdlib_roots()
    code_dir = code_dir.resolve()
    shipped, site = sandbox.shipped, sandbox.site

    def from_path(module: str, raw: str) -> Loaded:
        path = Path(raw).absolute()
        resolved = path.resolve()
        if _within(resolved, code_dir):
            return Loaded(module, CODE)
        relative: PurePosixPath | None = None
        if _within(path, sandbox.path):
            relative = PurePosixPath(path.relative_to(sandbox.path).as_posix())
        elif _within(resolved, site.root):
            relative = PurePosixPath(resolved.relative_to(site.root).as_posix())
        if relative is not None:
            owners = site.owners(relative)
            ships = sorted(owners & shipped.distributions)
            if ships:
                return Loaded(module, shipped.where(ships[0]), ships[0])
            owner = min(owners) if owners else None
            return Loaded(module, NOT_SHIPPED, owner, f"{relative} comes from the venv's site-packages")
        if any(_within(resolved, root) for root in stdlib) and "site-packages" not in resolved.parts:
            if module.partition(".")[0] in REMOVED_IN_PY312:
                return Loaded(module, NOT_SHIPPED, None, "removed from the standard library in Python 3.12")
            return Loaded(module, STDLIB)
        return Loaded(module, NOT_SHIPPED, None, f"{raw} is outside the code asset, the layers and the stdlib")

    result: dict[str, Loaded] = {}
    for name in sorted(modules, key=lambda n: (n.count("."), n)):  # parents before their submodules
        if name in _ALIASES_OF_MAIN:
            continue
        file, origin, locations, has_spec = modules[name]
        parent = name.rpartition(".")[0]
        if file:
            result[name] = from_path(name, file)
        elif origin in {"built-in", "frozen"} or name in sys.builtin_module_names:
            result[name] = Loaded(name, STDLIB)
        elif locations:  # a namespace package: shipped if one of its portions is
            portions = [from_path(name, location) for location in locations]
            result[name] = next((p for p in portions if p.shipped), portions[0])
        elif parent in result:  # made by its package (six.moves.*): as shipped as the package
            inherited = result[parent]
            result[name] = Loaded(name, inherited.source, inherited.distribution, inherited.detail)
        elif not has_spec:  # a module object that loaded code built (cython_runtime, _cython_3_2_4)
            result[name] = Loaded(name, MADE_AT_RUNTIME)
        else:
            result[name] = Loaded(name, NOT_SHIPPED, None, f"no file and no package (origin {origin!r})")
    return list(result.values())


# --------------------------------------------------------------------------------------------------
# Running the child interpreter.


def lambda_environment(function_name: str, variables: Mapping[str, str], code_dir: Path) -> dict[str, str]:
    """What Lambda sets for a function (its reserved variables), plus the function's own variables.

    LAMBDA_TASK_ROOT makes Powertools' Tracer enable itself and patch the SDK as it does on AWS; the
    credentials are fake: module-level clients are created, never called.
    """
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "HOME": tempfile.gettempdir(),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_name}",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        "LAMBDA_TASK_ROOT": str(code_dir),
        **variables,
    }


def probe(
    module: str,
    attributes: Iterable[str],
    sandbox: Sandbox,
    code_dir: Path,
    environment: Mapping[str, str],
    *,
    timeout: float = 120,
) -> Probe:
    """Import `module` in a fresh interpreter that sees only `code_dir`, `sandbox` and the stdlib."""
    env = {**environment, "PYTHONPATH": os.pathsep.join([str(code_dir), str(sandbox.path)])}
    with tempfile.TemporaryDirectory(prefix="handler-probe-") as scratch:
        out = Path(scratch) / "loaded.json"
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-S", "-B", "-c", _PROBE, module, ",".join(attributes), str(out)],
            capture_output=True,
            text=True,
            env=env,
            cwd=scratch,
            timeout=timeout,
            check=False,
        )
        seconds = time.monotonic() - started
        if not out.exists():
            raise RuntimeError(
                f"the probe of {module} wrote nothing (exit {result.returncode}):\n{result.stderr[-4000:]}"
            )
        report = json.loads(out.read_text())
    missing = report["missing"]
    return Probe(
        module=module,
        shipped=sandbox.shipped,
        loaded=tuple(classify(report["modules"], sandbox, code_dir)),
        error=report["error"],
        missing=missing,
        missing_from=sandbox.site.providers(missing) if missing else frozenset(),
        not_callable=tuple(report["not_callable"]),
        seconds=seconds,
    )

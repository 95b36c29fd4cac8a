"""The static complement of `lambda_imports`: the import statements of every code-asset module a
handler can reach, including those that run later than module import (inside function bodies, or
through a package's lazy `__getattr__`), checked against what the function ships."""

from __future__ import annotations

import ast
import functools
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.infra.lambda_imports import REMOVED_IN_PY312, Shipped, SitePackages


@dataclass(frozen=True)
class ImportStatement:
    """One import in a code-asset module: what it names and whether it runs on module import."""

    module: str  # the importing module
    line: int
    target: str  # the imported module, absolute
    names: tuple[str, ...]  # for `from target import a, b`
    in_function: bool
    optional: bool  # inside `try: ... except ImportError`


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _catches_import_error(handlers: list[ast.ExceptHandler]) -> bool:
    names: set[str] = set()
    for handler in handlers:
        kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        names |= {kind.id for kind in kinds if isinstance(kind, ast.Name)}
    return bool(names & {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})


@functools.cache
def module_statements(module: str, path: Path) -> tuple[tuple[ImportStatement, ...], bool]:
    """A module's import statements (not those under `if TYPE_CHECKING:`), and whether it imports
    dynamically (`importlib.import_module` with a computed name, as PEP 562 lazy packages do)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[ImportStatement] = []
    dynamic = False

    def visit(node: ast.AST, in_function: bool, optional: bool) -> None:
        nonlocal dynamic
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for statement in child.orelse:
                    visit_one(statement, in_function, optional)
                continue
            visit_one(child, in_function, optional)

    def visit_one(node: ast.AST, in_function: bool, optional: bool) -> None:
        nonlocal dynamic
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(ImportStatement(module, node.lineno, alias.name, (), in_function, optional))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target != "__future__":
                names = tuple(alias.name for alias in node.names)
                found.append(ImportStatement(module, node.lineno, target, names, in_function, optional))
        elif isinstance(node, ast.Try):
            guarded = _catches_import_error(node.handlers)
            for statement in node.body:
                visit_one(statement, in_function, optional or guarded)
            for part in (*node.handlers, *node.orelse, *node.finalbody):
                visit_one(part, in_function, optional)
        else:
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "import_module"
                and not (node.args and isinstance(node.args[0], ast.Constant))
            ):
                dynamic = True
            nested = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            visit(node, in_function or nested, optional)

    visit(tree, False, False)
    return tuple(found), dynamic


def _code_module_path(code_dir: Path, module: str) -> Path | None:
    base = code_dir.joinpath(*module.split("."))
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def _submodules(code_dir: Path, package: str) -> Iterator[str]:
    directory = code_dir.joinpath(*package.split("."))
    for path in sorted(directory.glob("*.py")):
        if path.name != "__init__.py":
            yield f"{package}.{path.stem}"
    for path in sorted(directory.iterdir()):
        if (path / "__init__.py").is_file():
            yield f"{package}.{path.name}"


def static_imports(handler_module: str, code_dir: Path) -> tuple[set[str], list[ImportStatement]]:
    """Code-asset modules reachable from `handler_module` and their imports of anything else.

    Follows every import statement, including those inside functions; a package that imports by
    computed name reaches all its submodules. Optional imports (guarded by `except ImportError`)
    are left out of the result.
    """
    todo = [handler_module]
    reached: set[str] = set()
    external: list[ImportStatement] = []
    while todo:
        module = todo.pop()
        if module in reached:
            continue
        path = _code_module_path(code_dir, module)
        if path is None:
            continue
        reached.add(module)
        parent = module.rpartition(".")[0]
        if parent:
            todo.append(parent)
        statements, dynamic = module_statements(module, path)
        if dynamic and path.name == "__init__.py":
            todo.extend(_submodules(code_dir, module))
        for statement in statements:
            candidates = [statement.target, *(f"{statement.target}.{name}" for name in statement.names)]
            inside = [name for name in candidates if _code_module_path(code_dir, name) is not None]
            if inside:
                todo.extend(inside)
            elif not statement.optional:
                external.append(statement)
    return reached, external


def unshipped_statements(statements: Iterable[ImportStatement], shipped: Shipped, site: SitePackages) -> list[str]:
    """Import statements naming a module that neither the stdlib (3.12) nor `shipped` provides."""
    problems: list[str] = []
    for statement in statements:
        top = statement.target.partition(".")[0]
        if top in sys.stdlib_module_names and top not in REMOVED_IN_PY312:
            continue
        providers = site.providers(top)
        if providers & shipped.distributions:
            continue
        where = "inside a function" if statement.in_function else "on import"
        problems.append(
            f"{statement.module}:{statement.line} imports {statement.target} ({where}), installed by "
            f"{', '.join(sorted(providers)) or 'nothing'}; not in {shipped.describe()}"
        )
    return problems

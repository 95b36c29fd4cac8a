"""Each handler runs with only what its function ships (issue #15, item 4).

The local runtime and the other tests import handlers in the development virtualenv, which holds
every layer's libraries at once: an import that a function's layers lack passes there and fails
only on AWS, as `Runtime.ImportModuleError` on the first invocation. Here every platform function of
the synthesized template is imported in a fresh interpreter that sees only what AWS gives it
(tests/infra/lambda_imports.py builds it):

- its code asset, `functions/` (packages `handlers` and `mlops`);
- the distributions of the layers the template attaches, with their transitive dependencies read
  from the venv's metadata (extras and markers for Linux, Python 3.12 and the function's
  architecture) by the bundler's own rule, so `exclude.txt` and the runtime's SDK are left out as
  they are in the built layer;
- the Lambda runtime's SDK: "The Lambda Python runtimes include the AWS SDK for Python (Boto3) and
  its dependencies" (https://docs.aws.amazon.com/lambda/latest/dg/python-package.html, "Runtime
  dependencies in Python"; the versions: https://docs.aws.amazon.com/lambda/latest/dg/lambda-python.html,
  "Runtime-included SDK versions"), i.e. boto3, botocore, s3transfer, jmespath, python-dateutil, six
  and urllib3;
- the standard library (this venv's 3.11; modules that 3.12 removed count as missing).

Every module left in `sys.modules` is then mapped to its distribution through site-packages'
RECORD files and must come from one of those. The venv's copies stand in for the built layers
(same versions, from the same lock): those are cp312 wheels for arm64, which this machine cannot
import (tests/infra/test_layer_sizes.py smoke-tests the real layers where it can).

Module import is what Lambda runs at cold start. Imports that run later (inside functions, or
through `mlops.training`'s lazy `__getattr__`) are covered by a static complement: the import
statements of every code-asset module reachable from a handler module, leaving out those under
`if TYPE_CHECKING:` and those guarded by `except ImportError`. It is per module, so the six training
functions, which share handlers.training and its layers, are checked for what any of them runs.

One subprocess per distinct handler module and layer set, run in parallel: about 11 s of CPU.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from infra.function_layers import FUNCTION_LAYERS, LAYER_NAMES, layers_for
from infra.paths import FUNCTIONS_DIR
from tests.infra.lambda_imports import (
    CODE,
    LAMBDA_RUNTIME_DISTRIBUTIONS,
    RUNTIME,
    STDLIB,
    Probe,
    Sandbox,
    Shipped,
    SitePackages,
    forbidden_loaded,
    lambda_environment,
    probe,
    runtime_sdk_closure,
)
from tests.infra.static_imports import static_imports, unshipped_statements
from tests.infra.template_queries import resources

# The predict function answers synchronous requests from the inference layer alone (DESIGN.md).
FORBIDDEN_IN_PREDICT = ("scikit-learn", "scipy", "pandas", "pydantic", "pyarrow")
CODE_PACKAGES = frozenset({"handlers", "mlops"})


@dataclass(frozen=True)
class PlatformFunction:
    """One AWS::Lambda::Function of the template whose code is the `functions/` asset."""

    logical_id: str
    handler: str
    layers: tuple[str, ...]
    architecture: str
    variables: Mapping[str, str]

    @property
    def module(self) -> str:
        return self.handler.rpartition(".")[0]

    @property
    def attribute(self) -> str:
        return self.handler.rpartition(".")[2]

    @property
    def table_name(self) -> str:
        """Its key in infra/function_layers.py: the handler's name, or the module's for `handler`."""
        return self.module.rpartition(".")[2] if self.attribute == "handler" else self.attribute


def _placeholder(value: Any) -> str:
    """A string for an environment value; intrinsics become readable placeholders."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Ref" in value:
        return f"placeholder-{value['Ref']}"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return "placeholder-" + "-".join(value["Fn::GetAtt"])
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_placeholder(part) for part in parts)
    return "placeholder"


def platform_functions(template: dict[str, Any]) -> list[PlatformFunction]:
    """The functions that run `functions/`; CDK's own (inline code, other assets) are skipped."""
    layer_names: dict[str, str] = {}
    for logical_id, layer in resources(template, "AWS::Lambda::LayerVersion").items():
        name = Path(layer["Metadata"]["aws:asset:path"]).name
        assert name in LAYER_NAMES, f"layer {logical_id} is built from {name!r}, not one of {LAYER_NAMES}"
        layer_names[logical_id] = name
    found: list[PlatformFunction] = []
    for logical_id, function in resources(template, "AWS::Lambda::Function").items():
        properties = function["Properties"]
        asset = function.get("Metadata", {}).get("aws:asset:path")
        if "ZipFile" in properties["Code"] or asset is None or Path(asset).resolve() != FUNCTIONS_DIR.resolve():
            continue
        variables = properties.get("Environment", {}).get("Variables", {})
        found.append(
            PlatformFunction(
                logical_id=logical_id,
                handler=properties["Handler"],
                layers=tuple(layer_names[layer["Ref"]] for layer in properties.get("Layers", [])),
                architecture=properties.get("Architectures", ["x86_64"])[0],
                variables={name: _placeholder(value) for name, value in variables.items()},
            )
        )
    return sorted(found, key=lambda f: f.logical_id)


@pytest.fixture(scope="module")
def functions(platform_template: dict[str, Any]) -> list[PlatformFunction]:
    return platform_functions(platform_template)


@pytest.fixture(scope="module")
def site() -> SitePackages:
    return SitePackages.read()


SandboxFor = Callable[[tuple[str, ...], str], Sandbox]


@pytest.fixture(scope="module")
def sandbox_for(site: SitePackages, tmp_path_factory: pytest.TempPathFactory) -> SandboxFor:
    """A function's importable world for a layer set and architecture, built once per module."""
    root = tmp_path_factory.mktemp("lambda-sandboxes")
    built: dict[tuple[tuple[str, ...], str], Sandbox] = {}

    def get(layers: tuple[str, ...], architecture: str) -> Sandbox:
        key = (layers, architecture)
        if key not in built:
            shipped = Shipped.for_layers(layers, site, architecture)
            built[key] = Sandbox.build(site, shipped, root / f"{architecture}-{'-'.join(layers) or 'none'}")
        return built[key]

    return get


@pytest.fixture(scope="module")
def probes(functions: list[PlatformFunction], sandbox_for: SandboxFor) -> dict[str, Probe]:
    """Each function's handler module imported with only what it ships, by logical id.

    Functions that share a module, layers and environment share one import (each one's handler
    must still be a callable in it).
    """
    groups: dict[tuple[Any, ...], list[PlatformFunction]] = {}
    for function in functions:
        key = (function.module, function.layers, function.architecture, tuple(sorted(function.variables.items())))
        groups.setdefault(key, []).append(function)

    def run(members: list[PlatformFunction]) -> Probe:
        first = members[0]
        return probe(
            first.module,
            [member.attribute for member in members],
            sandbox_for(first.layers, first.architecture),
            FUNCTIONS_DIR,
            lambda_environment(first.logical_id, first.variables, FUNCTIONS_DIR),
        )

    for members in groups.values():  # built here, not by the threads that share them
        sandbox_for(members[0].layers, members[0].architecture)
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 2)) as pool:
        results = list(pool.map(run, groups.values()))
    return {
        member.logical_id: result
        for members, result in zip(groups.values(), results, strict=True)
        for member in members
    }


def _one(functions: list[PlatformFunction], handler: str) -> PlatformFunction:
    matches = [f for f in functions if f.handler == handler]
    assert len(matches) == 1, f"{len(matches)} functions run {handler}"
    return matches[0]


# --------------------------------------------------------------------------------------------------
# The template's functions, as this test reads them.


def test_every_platform_function_is_checked_with_the_layers_of_the_table(functions: list[PlatformFunction]) -> None:
    """Every function of infra/function_layers.py is here, with the layers the table assigns it."""
    assert sorted(f.table_name for f in functions) == sorted(FUNCTION_LAYERS), [f.handler for f in functions]
    for function in functions:
        assert function.module.partition(".")[0] in CODE_PACKAGES, function.handler
        assert sorted(function.layers) == sorted(layers_for(function.table_name)), function.handler


def test_the_runtime_sdk_is_boto3_and_its_dependencies() -> None:
    assert runtime_sdk_closure() == set(LAMBDA_RUNTIME_DISTRIBUTIONS)


# --------------------------------------------------------------------------------------------------
# What each handler loads on import.


def test_every_handler_imports_with_only_what_its_function_ships(
    functions: list[PlatformFunction], probes: dict[str, Probe]
) -> None:
    problems = [
        f"{function.logical_id} ({function.handler}; layers {'+'.join(function.layers)}):\n    {problem}"
        for function in functions
        for problem in probes[function.logical_id].violations
    ]
    assert not problems, "would fail on AWS:\n" + "\n".join(problems)


def test_loaded_modules_are_mapped_to_where_the_function_gets_them(
    functions: list[PlatformFunction], probes: dict[str, Probe]
) -> None:
    """The mapping itself: the handler from the code asset, json from the stdlib, Powertools from
    its layer, botocore from the runtime (boto3, or the X-Ray SDK's patching, loads it everywhere)."""
    for function in functions:
        result = probes[function.logical_id]
        if result.error is not None:
            continue  # reported by the test above
        source = {item.module: (item.source, item.distribution) for item in result.loaded}
        assert source[function.module] == (CODE, None), function.handler
        assert source["json"] == (STDLIB, None), function.handler
        if function.module == "handlers.predict":
            # It imports botocore when it builds its clients and Powertools for a log line (issue #21's
            # cold start): neither at import.
            assert not {"aws_lambda_powertools", "botocore"} & source.keys(), function.handler
            continue
        assert source["aws_lambda_powertools"] == ("layer powertools", "aws-lambda-powertools"), function.handler
        assert source["botocore"] == (RUNTIME, "botocore"), function.handler


def test_predict_never_loads_scikit_learn_scipy_pandas_pydantic_or_pyarrow(
    functions: list[PlatformFunction], probes: dict[str, Probe], site: SitePackages
) -> None:
    predict = _one(functions, "handlers.predict.handler")
    result = probes[predict.logical_id]
    assert result.error is None, result.violations
    assert forbidden_loaded(result, FORBIDDEN_IN_PREDICT, site) == set()
    assert {"onnxruntime", "numpy"} <= result.distributions()


def test_the_failure_recorder_loads_only_what_its_layers_have(
    functions: list[PlatformFunction], probes: dict[str, Probe]
) -> None:
    recorder = _one(functions, "handlers.training_failure.record_failure")
    result = probes[recorder.logical_id]
    assert recorder.layers == ("powertools",)
    assert result.error is None, result.violations
    assert result.distributions() - LAMBDA_RUNTIME_DISTRIBUTIONS <= set(result.shipped.layer_of)
    assert not {"numpy", "pandas", "scikit-learn", "onnxruntime", "pyyaml"} & result.distributions()


# --------------------------------------------------------------------------------------------------
# Imports that run after module import: every statement reachable from a handler.


def test_every_import_statement_reachable_from_a_handler_is_shipped(
    functions: list[PlatformFunction], sandbox_for: SandboxFor, site: SitePackages
) -> None:
    problems: list[str] = []
    for function in functions:
        reached, statements = static_imports(function.module, FUNCTIONS_DIR)
        assert function.module in reached
        shipped = sandbox_for(function.layers, function.architecture).shipped
        problems += [f"{function.handler}: {p}" for p in unshipped_statements(statements, shipped, site)]
    assert not problems, "imports that would fail on AWS when they run:\n" + "\n".join(sorted(set(problems)))


def test_predict_reaches_no_import_of_the_forbidden_libraries(
    functions: list[PlatformFunction], site: SitePackages
) -> None:
    _reached, statements = static_imports("handlers.predict", FUNCTIONS_DIR)
    providers = {dist for s in statements for dist in site.providers(s.target)}
    assert not providers & set(FORBIDDEN_IN_PREDICT), sorted(providers & set(FORBIDDEN_IN_PREDICT))


# --------------------------------------------------------------------------------------------------
# The checks can fail: fake handlers that import what the predict function does not ship.


def _fake_code(tmp_path: Path, source: str) -> Path:
    code = tmp_path / "code"
    (code / "fakehandlers").mkdir(parents=True)
    (code / "fakehandlers" / "__init__.py").write_text("")
    (code / "fakehandlers" / "predict.py").write_text(textwrap.dedent(source))
    return code


def test_a_handler_importing_sklearn_fails_with_the_predict_layers(tmp_path: Path, sandbox_for: SandboxFor) -> None:
    code = _fake_code(tmp_path, "import sklearn\n\n\ndef handler(event, context):\n    return None\n")
    sandbox = sandbox_for(("inference", "powertools"), "arm64")
    assert not (sandbox.path / "sklearn").exists() and (sandbox.path / "onnxruntime").exists()
    result = probe("fakehandlers.predict", ["handler"], sandbox, code, lambda_environment("fake", {}, code))
    assert result.missing == "sklearn"
    assert result.missing_from == {"scikit-learn"}
    assert any("No module named 'sklearn'" in v and "scikit-learn" in v for v in result.violations), result.violations


def test_a_module_loaded_from_outside_the_layers_is_mapped_and_reported(
    tmp_path: Path, sandbox_for: SandboxFor, site: SitePackages
) -> None:
    """The mapping catches what escapes the sandbox: here a handler that puts the venv on its path."""
    code = _fake_code(
        tmp_path,
        f"""\
        import sys
        sys.path.append({str(site.root)!r})
        import yaml


        def handler(event, context):
            return None
        """,
    )
    sandbox = sandbox_for(("inference", "powertools"), "arm64")
    result = probe("fakehandlers.predict", ["handler"], sandbox, code, lambda_environment("fake", {}, code))
    assert result.error is None, result.error
    assert "pyyaml" in result.distributions()
    expected = "loads yaml from pyyaml, which is not in layers inference+powertools"
    assert any(v.startswith(expected) for v in result.violations), result.violations


def test_the_predict_check_catches_a_forbidden_library_that_its_layers_ship(
    tmp_path: Path, sandbox_for: SandboxFor, site: SitePackages
) -> None:
    """pydantic comes with the powertools layer, so only the explicit check stops predict loading it."""
    code = _fake_code(tmp_path, "import pydantic\n\n\ndef handler(event, context):\n    return None\n")
    sandbox = sandbox_for(("inference", "powertools"), "arm64")
    result = probe("fakehandlers.predict", ["handler"], sandbox, code, lambda_environment("fake", {}, code))
    assert result.violations == []
    assert forbidden_loaded(result, FORBIDDEN_IN_PREDICT, site) == {"pydantic"}


def test_an_import_inside_a_function_is_found_statically(
    tmp_path: Path, sandbox_for: SandboxFor, site: SitePackages
) -> None:
    code = _fake_code(
        tmp_path,
        """\
        import json

        try:
            import ujson
        except ImportError:
            ujson = None


        def handler(event, context):
            import sklearn.linear_model

            return json.dumps(event)
        """,
    )
    reached, statements = static_imports("fakehandlers.predict", code)
    assert reached == {"fakehandlers", "fakehandlers.predict"}
    shipped = sandbox_for(("inference", "powertools"), "arm64").shipped
    problems = unshipped_statements(statements, shipped, site)
    assert len(problems) == 1, problems
    assert "fakehandlers.predict:10 imports sklearn.linear_model (inside a function)" in problems[0]
    assert "scikit-learn" in problems[0]

"""Where a function's handler comes from: its asset's source directory, else its own code zip.

`deploy()` registers each asset zip's digest with the directory it was made from, so a function runs
from the source tree (edits show at the next cold start); inline code and uploaded zips are extracted
once into a cache and loaded from there. Handler modules are forgotten between local clouds, so each
cloud cold-starts them.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import io
import os
import sys
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from moto.awslambda.models import LambdaFunction

from localcloud.lambda_.runtime_state import runtime

CODE_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "serverless-mlops" / "lambda-code"


def load_handler(fn: LambdaFunction) -> Callable[[Any, Any], Any]:
    module_name, _, attribute = (fn.handler or "").rpartition(".")
    if not module_name:
        raise ValueError(f"function {fn.function_name} has handler {fn.handler!r}; expected module.function")
    source_dir = runtime.code_dirs.get(getattr(fn, "code_digest", "") or "")
    if source_dir is not None:
        if str(source_dir) not in sys.path:
            sys.path.insert(0, str(source_dir))
        module = importlib.import_module(module_name)
        handler_modules.add(module_name)
    else:
        module = module_from_zip(fn, module_name)
    handler = getattr(module, attribute, None)
    if not callable(handler):
        raise AttributeError(f"Handler '{attribute}' missing on module '{module_name}' of {fn.function_name}")
    return handler  # type: ignore[no-any-return]


zip_modules: dict[tuple[str, str], ModuleType] = {}
handler_modules: set[str] = set()


def module_from_zip(fn: LambdaFunction, module_name: str) -> ModuleType:
    """Code with no known source directory (inline code, uploaded zips) runs from its own zip."""
    digest = getattr(fn, "code_digest", None) or hashlib.sha256(fn.code_bytes).hexdigest()
    cached = zip_modules.get((digest, module_name))
    if cached is not None:
        return cached
    target = CODE_CACHE / digest
    if not target.exists():
        staging = target.with_name(f"{digest}.{uuid.uuid4().hex}")
        with zipfile.ZipFile(io.BytesIO(fn.code_bytes)) as archive:
            archive.extractall(staging)
        with contextlib.suppress(OSError):  # another process extracted it first
            staging.rename(target)
    path = target / (module_name.replace(".", "/") + ".py")
    if not path.exists():
        raise ModuleNotFoundError(f"No module named '{module_name}' in the code of {fn.function_name}")
    if str(target) not in sys.path:
        sys.path.append(str(target))  # sibling modules of single-file handlers (e.g. cfnresponse)
    spec = importlib.util.spec_from_file_location(f"_lambda_{digest[:16]}_{module_name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    zip_modules[(digest, module_name)] = module
    return module


def forget_handlers() -> None:
    """Drop loaded handler modules, so the next invocation cold-starts them."""
    for name in handler_modules:
        sys.modules.pop(name, None)
    handler_modules.clear()
    zip_modules.clear()

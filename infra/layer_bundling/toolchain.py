"""The tools a build needs from this machine: a Python 3.12 interpreter to precompile with, and uv
(else pip) to install."""

from __future__ import annotations

import contextlib
import functools
import glob
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Final

# Lambda's python3.12 runtime: the ABI the layers are installed for and the bytecode they ship.
PYTHON_VERSION: Final = "3.12"


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

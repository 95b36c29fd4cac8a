"""The `mlops` commands, one module per subject, and what every command shares: the exit codes
scripts rely on, the error that says a command could not run, how it prints (text, or one JSON
document with `--json`) and which deployment it acts on.

A command module imports its heavy libraries inside the command: the parser imports every module,
and `mlops --help` or a read-only command must not pay for pandas or scikit-learn
(tests/unit/cli/test_startup.py).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from mlopsctl.target import Target, find_target

EXIT_OK, EXIT_REJECTED, EXIT_ERROR = 0, 1, 2


class CommandError(RuntimeError):
    """The command could not run; the message says why."""


def emit(args: argparse.Namespace, document: dict[str, Any], text: str) -> None:
    print(json.dumps(document, indent=2, default=str) if args.json else text)


def deployment_target(args: argparse.Namespace) -> Target:
    """The deployment named by `--outputs`, `--stack` and `--endpoint-url` (or their defaults)."""
    return find_target(args.outputs, args.stack, args.endpoint_url)

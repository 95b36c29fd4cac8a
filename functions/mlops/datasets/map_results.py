"""The child executions of a Distributed Map that did not succeed, read back from its ResultWriter.

A Map whose child fails (`ToleratedFailureCount` 0) fails with `States.ExceedToleratedFailureThreshold`
and a cause that names no item. What the child was given and how it failed is in the files the
Map's ResultWriter exports, whether the Map Run succeeded or not: under `<Prefix>/<map run id>/`, a
`manifest.json` whose `ResultFiles.FAILED` lists `FAILED_<n>.json` files, each a JSON array of
execution records (`Input`, a JSON string; `Status`; `Error`; `Cause`)
(https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html). The local
cloud writes the same layout (`localcloud/stepfunctions/result_writer.py`).

A Lambda task's `Cause` is the function's error as JSON (`errorType`, `errorMessage`); it is shown
as `<type>: <message>`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

# The children that failed on their own account; an ABORTED child was stopped because another failed.
_FAILED = ("FAILED", "TIMED_OUT")
_CAUSE_CHARS = 500


class ResultFiles(Protocol):
    """Where the Map wrote its results (the artifacts bucket)."""

    def keys(self, prefix: str) -> list[str]: ...

    def get(self, key: str) -> bytes: ...


@dataclass(frozen=True)
class FailedChild:
    """One child execution that failed: the item it was given, and its error."""

    input: dict[str, Any]
    status: str
    error: str
    cause: str

    @property
    def reason(self) -> str:
        """The error as a person reads it (`error_reason`)."""
        if self.status == "TIMED_OUT" and not self.cause:
            return "the child execution timed out"
        return error_reason(self.error, self.cause)


def error_reason(error: str, cause: str) -> str:
    """A state's error as a person reads it: a Lambda function's error type and message, or the
    error and its cause as Step Functions gives them."""
    try:
        found = json.loads(cause)
    except ValueError:
        found = None
    if isinstance(found, dict) and "errorMessage" in found:
        kind = found.get("errorType") or error
        return f"{kind}: {str(found['errorMessage'])[:_CAUSE_CHARS]}"
    detail = f": {cause[:_CAUSE_CHARS]}" if cause else ""
    return f"{error or 'error'}{detail}"


def failed_children(files: ResultFiles, prefix: str) -> list[FailedChild]:
    """Every child that failed, of every Map Run whose results are under `prefix` (runs in key order)."""
    found: list[FailedChild] = []
    for key in sorted(k for k in files.keys(prefix) if k.endswith("/manifest.json")):
        manifest = json.loads(files.get(key))
        for entry in manifest.get("ResultFiles", {}).get("FAILED", []):
            for record in json.loads(files.get(str(entry["Key"]))):
                if record.get("Status") not in _FAILED:
                    continue
                given = record.get("Input")
                item = json.loads(given) if isinstance(given, str) else given
                found.append(
                    FailedChild(
                        input=item if isinstance(item, dict) else {},
                        status=str(record.get("Status")),
                        error=str(record.get("Error") or ""),
                        cause=str(record.get("Cause") or ""),
                    )
                )
    return found

"""Batch scoring in parts without AWS: buckets in dicts, and the state machine's steps run in its
order (plan, split for gzip, count each slice, number, score each item, finish), so a test compares
what it writes with what one invocation writes for the same file."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlops.serving.batch import BatchOutcome, BatchUpload, OpenedObject, score_upload
from mlops.serving.batch import parts as steps
from mlops.serving.batch.reading import Readable
from mlops.serving.inputs import RequestError
from mlops.serving.models import ServedVersion


class MemoryBucket:
    """A versioned bucket in a dict, read whole or by byte ranges of a given version: what batch
    scoring reads, writes and deletes, in one invocation or in parts."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}
        self.versions: dict[tuple[str, str], bytes] = {}
        self.puts: list[str] = []
        self.fail_on: str | None = None
        self.ranged_reads = 0

    def upload(self, key: str, body: bytes) -> BatchUpload:
        self.put(key, body, "text/csv")
        return BatchUpload("raw", key, self.objects[key][1])

    def open(self, key: str) -> OpenedObject:
        body, version = self.objects[key]
        return OpenedObject(io.BytesIO(body), version, None, len(body))

    def get_json(self, key: str) -> dict[str, Any] | None:
        found = self.get(key)
        return json.loads(found) if found is not None else None

    def get(self, key: str) -> bytes | None:
        found = self.objects.get(key)
        return found[0] if found else None

    def stream(self, key: str, version_id: str | None, start: int, stop: int) -> Readable:
        self.ranged_reads += 1
        body = self.versions[(key, version_id)] if version_id else self.objects[key][0]
        return io.BytesIO(body[start:stop])

    def put(self, key: str, body: bytes, content_type: str) -> None:
        if self.fail_on is not None and key.endswith(self.fail_on):
            raise ConnectionError("S3 is unreachable")
        version = f"v{len(self.puts) + 1}"
        self.objects[key] = (body, version)
        self.versions[(key, version)] = body
        self.puts.append(key)

    def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    def text(self, key: str) -> str:
        return self.objects[key][0].decode()

    def under(self, prefix: str) -> dict[str, bytes]:
        return {k: v for k, (v, _) in sorted(self.objects.items()) if k.startswith(prefix)}


def resolver(served: ServedVersion) -> Callable[[str], ServedVersion]:
    def resolve(model: str) -> ServedVersion:
        if model != served.model:
            raise RequestError(404, "not_found", f"no model named {model!r}")
        return served

    return resolve


@dataclass
class PartsMachine:
    """The batch scoring state machine's path through the steps, in-process; `runs` are the inputs it
    was started with (what the batch function hands Step Functions)."""

    raw: MemoryBucket
    work: MemoryBucket
    versions: dict[int, ServedVersion]
    slice_bytes: int
    runs: list[steps.PartsRun] = field(default_factory=list)
    loads: list[int] = field(default_factory=list)
    before_children: Callable[[], None] = lambda: None  # e.g. a promotion while the file is scored

    def routing(self, above_bytes: int = 0) -> steps.PartsRouting:
        def start(run: steps.PartsRun) -> str:
            self.runs.append(run)
            return f"arn:aws:states:eu-west-1:123456789012:execution:batch-scoring:{run.run}"

        return steps.PartsRouting(above_bytes=above_bytes, gzip_above_bytes=above_bytes, start=start)

    def version(self, model: str, number: int) -> ServedVersion:
        self.loads.append(number)
        return self.versions[number]

    @property
    def services(self) -> steps.PartsServices:
        return steps.PartsServices(self.raw, self.raw, self.work, self.version, slice_bytes=self.slice_bytes)

    def run(self, run: steps.PartsRun) -> BatchOutcome:
        """Plan -> (split) -> count each slice -> number -> score each item -> finish, catching a step's
        error into the finish as the state machine does."""
        services = self.services
        planned = steps.PlanOutcome()
        numbered = None
        try:
            planned = steps.plan(run, services)
            if planned.gzip:
                planned = steps.split(run, services)
            if planned.problem is not None:
                return steps.finish(run, steps.FinishInput(problem=planned.problem), services)
            self.before_children()
            listed = self.work.text(planned.items_key).splitlines()
            for piece in listed:
                steps.count(run, steps.InputSlice(**json.loads(piece)), services)
            numbered = steps.number(run, planned.slices, services)
            for line in self.work.text(numbered.items_key).splitlines():
                steps.score(run, steps.ScoreItem.from_json(json.loads(line)), services)
        except Exception as error:
            given = steps.FinishInput(
                slices=planned.slices,
                items=numbered.items if numbered else 0,
                error={"Error": type(error).__name__, "Cause": str(error)},
            )
            return steps.finish(run, given, services)
        return steps.finish(run, steps.FinishInput(slices=planned.slices, items=numbered.items), services)


def score_in_parts(
    machine: PartsMachine, upload: BatchUpload, served: ServedVersion, *, chunk_rows: int
) -> BatchOutcome:
    """What the batch function and then the state machine do with a file past the threshold."""
    started = score_upload(upload, machine.raw, resolver(served), chunk_rows=chunk_rows, parts=machine.routing())
    assert started.status == "in_parts", started.summary
    return machine.run(machine.runs[-1])

"""One uploaded file, end to end: the champion resolved, the input read chunk by chunk, each chunk
scored into a part, then `_SUCCESS.json`; or `_FAILED.json` with the reason, for a file that cannot
be scored or that would outlast the function's time limit."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from typing import Any

from mlops.serving.batch.keys import batch_key
from mlops.serving.batch.outputs import (
    BatchOutcome,
    BatchUpload,
    FileRun,
    clear_markers,
    scored_before,
    stop_at_time_limit,
    write_failure,
    write_success,
)
from mlops.serving.batch.parts import PartsRouting, PartsRun, run_name
from mlops.serving.batch.reading import DEFAULT_CHUNK_ROWS, BatchFileError, open_input
from mlops.serving.batch.scoring import empty_part, output_columns, score_chunk
from mlops.serving.batch.store import BatchStore
from mlops.serving.inputs import RequestError
from mlops.serving.models import ServedVersion

TIME_MARGIN_MS = 30_000  # stop this long before the Lambda timeout, plus the slowest chunk so far


def score_upload(
    upload: BatchUpload,
    store: BatchStore,
    resolve: Callable[[str], ServedVersion],
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    remaining_ms: Callable[[], int] = lambda: 1 << 62,
    clock: Callable[[], float] = time.monotonic,
    parts: PartsRouting | None = None,
) -> BatchOutcome:
    """Score one uploaded file into its parts and write `_SUCCESS.json`, or `_FAILED.json` saying why;
    a file past `parts`' threshold is handed to the batch scoring state machine instead (`parts.py`).

    Raises NotInputError for keys that are not input files. Other exceptions (S3 or DynamoDB failing) are
    raised after a `_FAILED.json` is written, so Lambda retries the event and the user sees why."""
    key = batch_key(upload.key)
    run = FileRun(key, upload, clock(), clock)
    previous = store.get_json(key.success_key)
    if scored_before(previous, upload):
        return BatchOutcome(
            upload.key,
            key.model,
            "already_scored",
            "already scored: this object version has a _SUCCESS.json",
            version=(previous or {}).get("version"),
            document_key=key.success_key,
        )
    try:
        return _score(run, store, resolve, previous, chunk_rows, remaining_ms, parts)
    except BatchFileError as failure:
        return write_failure(run, store, failure.code, failure.message)
    except Exception as error:
        message = f"internal error: {type(error).__name__}: {error} (the event is retried automatically)"
        with contextlib.suppress(Exception):  # the original error is the one worth raising
            write_failure(run, store, "internal_error", message)
        raise


def _score(
    run: FileRun,
    store: BatchStore,
    resolve: Callable[[str], ServedVersion],
    previous: Mapping[str, Any] | None,
    chunk_rows: int,
    remaining_ms: Callable[[], int],
    parts: PartsRouting | None,
) -> BatchOutcome:
    key, upload = run.key, run.upload
    try:
        run.served = served = resolve(key.model)
    except RequestError as error:
        raise BatchFileError(error.code, error.message) from None
    opened = store.open(key.key)
    try:
        if upload.version_id is not None and opened.version_id not in (None, upload.version_id):
            return BatchOutcome(
                upload.key,
                key.model,
                "superseded",
                f"version {upload.version_id} was replaced by {opened.version_id}, which its own event scores",
            )
        clear_markers(store, key, previous)
        if parts is not None and parts.wanted(key, opened.size):
            return _start_parts(run, served, previous, chunk_rows, opened.size, parts)
        source = open_input(opened.body, key.format, served.signature)
        slowest_ms = 0.0
        for chunk in source.chunks(chunk_rows):
            # Checked once a next chunk is known to exist, so a file that just fits is never cut short;
            # the margin covers reading a chunk, the slowest chunk so far covers scoring and writing one.
            left = remaining_ms()
            if left < TIME_MARGIN_MS + slowest_ms:
                return stop_at_time_limit(run, store, left)
            began = run.clock()
            scored = score_chunk(chunk, served, source.id_columns)
            part = key.part_key(len(run.parts))
            store.put(part, scored.body, "text/csv; charset=utf-8")
            run.parts.append(part)
            run.rows += scored.rows
            run.scored += scored.scored
            run.errors += scored.errors
            run.warnings += scored.warnings
            slowest_ms = max(slowest_ms, (run.clock() - began) * 1000)
        if not run.parts:
            part = key.part_key(0)
            store.put(part, empty_part(served, source.id_columns), "text/csv; charset=utf-8")
            run.parts.append(part)
    finally:
        opened.close()
    return write_success(
        run,
        store,
        previous,
        format=key.format,
        chunk_rows=chunk_rows,
        columns=output_columns(served.signature, source.id_columns),
        id_columns=source.id_columns,
        ignored_columns=source.ignored_columns,
        onnx_sha256=served.onnx_sha256,
    )


def _start_parts(
    run: FileRun,
    served: ServedVersion,
    previous: Mapping[str, Any] | None,
    chunk_rows: int,
    size: int,
    parts: PartsRouting,
) -> BatchOutcome:
    """Start the state machine with the champion pinned now: every child loads this version by number."""
    started = PartsRun(
        run=run_name(run.upload),
        upload=run.upload,
        version=served.version,
        onnx_sha256=served.onnx_sha256,
        chunk_rows=chunk_rows,
        started_at=time.time(),
        size=size,
        previous_parts=len((previous or {}).get("parts", [])),
    )
    execution = parts.start(started)
    return BatchOutcome(
        run.upload.key,
        run.key.model,
        "in_parts",
        f"{size:,} bytes: scored in parts by {run.key.model} v{served.version}, execution {execution}",
        version=served.version,
    )

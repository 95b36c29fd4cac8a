"""Batch scoring: a file under `batch/<model>/` scored by the model's champion into CSV parts beside it.

The same code answers as the predict API: each chunk of rows becomes the records `encode_request`
checks and encodes, and the champion's ONNX session scores them. What differs is the failure unit.
A request with one bad row is rejected whole; in a file a bad row is not scored and gets its problems
in the `error` column, and the other rows are scored. Only what makes the whole file unusable fails
it: no champion, missing model columns, no header, a corrupt gzip stream.

Input is read as a stream (CSV or JSON Lines, plain or gzip, detected by content) and scored in
chunks of `chunk_rows` rows, so memory is bounded by the chunk, never by the file. Row numbers follow
the ingestion reports: `row` is the 1-based data row, the first row after the header (or the first
JSON object) being 1; blank lines are not rows.

Outputs, for `batch/<model>/<stem>.csv` (or .csv.gz, .jsonl, .jsonl.gz, .ndjson, .ndjson.gz):
`batch/<model>/<stem>.predictions/part-00000.csv`, … (one per chunk, each with a header), then
`_SUCCESS.json` last, or `_FAILED.json` with the reason. Names are deterministic, so a redelivered
event rewrites the same parts; a `_SUCCESS.json` for the same S3 object version makes it a no-op.

The parts: `keys` (which objects are inputs, where their outputs go), `reading` (streams and
chunks), `scoring` (a chunk into a CSV part), `outputs` (the markers and the outcome), `store` (the
bucket, S3 or a dict) and `upload` (one file end to end: `score_upload`).

numpy and the standard library only (plus the serving core): no pandas or pyarrow in this Lambda.
"""

from mlops.serving.batch.keys import BatchKey, NotInputError, batch_key
from mlops.serving.batch.outputs import BatchOutcome, BatchUpload
from mlops.serving.batch.reading import DEFAULT_CHUNK_ROWS, BatchFileError, BatchInput, InputChunk, open_input
from mlops.serving.batch.scoring import ScoredChunk, output_columns, score_chunk
from mlops.serving.batch.store import BatchStore, OpenedObject, S3BatchStore
from mlops.serving.batch.upload import score_upload

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "BatchFileError",
    "BatchInput",
    "BatchKey",
    "BatchOutcome",
    "BatchStore",
    "BatchUpload",
    "InputChunk",
    "NotInputError",
    "OpenedObject",
    "S3BatchStore",
    "ScoredChunk",
    "batch_key",
    "open_input",
    "output_columns",
    "score_chunk",
    "score_upload",
]

"""Dataset versions: immutable, content-addressed snapshots of accepted data.

- `versioning`: a version's content hash, its stored arrays and null masks, its manifest, where it
  lives in the curated bucket;
- `ingestion`: one upload under `raw/<dataset>/` validated against its contract, then kept as a
  version or quarantined with its report, and announced;
- `records`: the dataset-version, upload and upload-folder records in the registry table
  (`DatasetRecords`, `DatasetVersion`, `UploadFolder`);
- `uncommitted`: a multi-file upload left without its commit marker reported once after the
  timeout, and a file written after the marker refused.
"""

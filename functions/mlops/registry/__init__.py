"""The model registry: one DynamoDB table of model versions, aliases (champion, challenger) and
their rollout, runs, drift and performance results and the audit trail. boto3 and the standard library only: the
registry API function carries no ML libraries.

- keys: the table's key layout, every item kind in one docstring, and page tokens.
- versions: the typed version record (`TrainedVersion`, `ModelVersion`); numbers: Decimal <-> int/float.
- promotion: the rules of promotion, rollout, rollback and status changes (no DynamoDB).
- limits: what callers may write (tags, item sizes); errors: `RegistryError`.
- models: `ModelRegistry`, the data access, with runs (runs), drift checks (drift_checks) and
  performance checks (performance_checks).
- views: how records are shown (plain JSON, the model card).
- run_comparison: a run joined with the version it registered (`RunRecord`), two runs side by side,
  a dataset's runs searched; run_query: the NAME OP VALUE expressions and sort order that
  `mlops runs --filter`, `mlops runs search` and GET /v1/runs share.
- lineage: what trained a version, back to the uploaded files; downloads: its files' presigned URLs.

Dataset versions and uploads, kept on the same table, are mlops.datasets.records.
"""

"""One construct per capability of the platform; each file holds the construct of its name.

Built first, and handed to the capabilities below as one `SharedResources` (`shared_resources.py`):
`encryption.Encryption` (the platform's KMS key), `data_storage.DataStorage` (the buckets),
`registry.Registry` (the registry table), `alerts.Alerts` (the alerts topic, the dead-letter queue,
every alarm and the dashboard) and `layers.Layers` (the Lambda layers).

The capabilities, each named as in the core (`functions/mlops/`): `ingestion.Ingestion`,
`training.Training`, `serving.Serving` (the HTTPS API and online predictions), `batch_scoring.BatchScoring`,
`drift.Drift` (drift monitoring, `mlops.monitoring`) and `registry_api.RegistryApi`.

Every function is a `platform_function.PlatformFunction`; `api_errors.py` is what API Gateway itself
answers in the platform's error shape.
"""

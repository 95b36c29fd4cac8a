"""Monitoring: the reference profile written at training time, and drift checks of captured traffic
against it.

- `profile`: the reference profile (quantile sketches, category frequencies, the prediction's).
- `config`: `DriftConfig`, how a check decides (the training config's `monitoring.drift`).
- `window`: `CapturedWindow`, the captured rows of one check, refused ones counted by reason.
- `statistics`: the tests and distances (KS, Wasserstein, chi-square, Jensen-Shannon) against the
  profile, and their survival functions.
- `drift`: `check_drift`, the decision per feature, for the prediction and for the dataset.
- `report`: `DriftReport`, what a check found, and its HTML page and notification text.
- `drift_score`: each feature's drift on one scale, whatever judged it (1 is the drift line): what
  the drift function logs per feature (`feature_scores`).
- `performance`: the training gates' metrics on labelled traffic, numpy only (#19; equal to
  scikit-learn's to 1e-9).
- `labels`: ground truth joined with captured rows by request id and row, the latest label winning.
- `label_intake`: labels sent back (API or file) checked against the model's classes or numbers,
  refused whole when one cannot be right, counted when one cannot be joined, cut into `label_store`
  objects; `feedback_files`: a label file under `feedback/<model>/`, read with the ingestion's
  readers (the one module here that imports pandas: the feedback function has the data layer).
- `join`: `join_hour`, one hour of predictions (every version's capture batches) joined with its
  label objects into a `JoinedHour`, pure.
- `scheduled_join`: which hours of which models to join (a watermark of labels read, hours whose
  capture may still land, the horizon), their joined objects written only when changed (#19).
- `assessment`: `assess_performance`, a window of labelled predictions scored per version, variant
  and segment against the test split and the floors; `bootstrap`: its intervals, vectorized;
  `performance_record`: what it found (the JSON report, the registry row); `performance_report`:
  the page with the floor metric over the checks, and the mail.
- `retraining`: when drift (or a schedule) may start a retraining run: a cooldown, a few a day.
- `checks`: one check per due model (window read, report stored, retraining maybe started), with
  AWS reached only through `DriftServices`.

numpy and pydantic only, never scikit-learn or scipy: the drift function imports this package with
the inference layer. No names are imported here, so importing one module loads only what it needs.
"""

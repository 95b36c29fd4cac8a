"""The names the functions, the CLI and the CDK constructs share: where things live in the buckets,
what the aliases are called, and which names a dataset or model may have.

One owner, so an IAM grant in `infra/` and the key a function writes cannot drift apart. Standard
library only: `infra/` imports this module too, and so do the functions with the fewest layers.
"""

from __future__ import annotations

from typing import Final

# Raw bucket: uploads land under raw/<dataset>/, files to score under batch/<model>/, ground truth
# (CSV/Parquet of request id, row and label) under feedback/<model>/.
RAW_PREFIX: Final = "raw/"
BATCH_PREFIX: Final = "batch/"
FEEDBACK_PREFIX: Final = "feedback/"
# Labelled traffic written back as training data goes through ingestion like any upload, as
# raw/<dataset>/feedback-<model>-<first label>-<last label>.csv (granted as `raw/*/feedback-*`).
FEEDBACK_UPLOAD_STEM: Final = "feedback-"

# Curated bucket: immutable dataset versions, datasets/<dataset>/<version>/.
DATASETS_PREFIX: Final = "datasets/"
# Artifacts bucket: a partitioned upload's validation run, validation-work/<dataset>/<run>/ (its item
# lists, staged slices, part records and hash buckets); expired by a lifecycle rule.
VALIDATION_WORK_PREFIX: Final = "validation-work/"
# Artifacts bucket: a batch file scored in parts, batch-work/<model>/<run>/ (its slices, row counts,
# item lists, the pieces a gzip input is split into, each child's figures); expired by a lifecycle rule.
BATCH_WORK_PREFIX: Final = "batch-work/"
# A multi-file upload, raw/<dataset>/<upload>/<files>, is complete once this object is written, last.
COMMIT_MARKER: Final = "_COMMIT"

# Artifacts bucket.
CONTRACTS_PREFIX: Final = "contracts/"
CONFIGS_PREFIX: Final = "configs/"
MODELS_PREFIX: Final = "models/"  # models/<model>/runs/<run_id>/ and models/<model>/<version>/
CAPTURE_PREFIX: Final = "capture/"
# Validated labels, labels/<model>/date=<d>/hour=<h>/ by the hour of the prediction they are about,
# and each hour's join of them with the captured predictions, joined/<model>/date=<d>/hour=<h>/.
LABELS_PREFIX: Final = "labels/"
JOINED_PREFIX: Final = "joined/"
REPORTS_PREFIX: Final = "reports/"
VALIDATION_REPORTS_PREFIX: Final = f"{REPORTS_PREFIX}validation/"
DRIFT_REPORTS_PREFIX: Final = f"{REPORTS_PREFIX}drift/"
FEEDBACK_REPORTS_PREFIX: Final = f"{REPORTS_PREFIX}feedback/"
PERFORMANCE_REPORTS_PREFIX: Final = f"{REPORTS_PREFIX}performance/"

# A run's artifacts that other functions read (and are granted by name): serving loads the model and
# its signature, the drift check the reference profile.
MODEL_FILE: Final = "model.onnx"
SIGNATURE_FILE: Final = "signature.json"
PROFILE_FILE: Final = "profile.json"
# What a predict request with "explain": true reads (mlops.training.explain_export writes it).
EXPLANATION_FILE: Final = "explanation.npz"

# The Fargate task that fits a candidate past the fit Lambda's limits: its container's name, and the
# `awslogs` stream prefix, so that its log stream is `fit/fit/<task id>` (the failure handler reads it).
FIT_TASK_CONTAINER: Final = "fit"
FIT_TASK_LOG_PREFIX: Final = "fit"

# Contracts and training configs, in the order the functions look for them (`<folder>/<dataset><suffix>`).
DEFINITION_SUFFIXES: Final = (".yaml", ".yml", ".json")

# The aliases the platform gives meaning to: the version serving answers with, and the one in rollout.
CHAMPION: Final = "champion"
CHALLENGER: Final = "challenger"

# A dataset or model name: a slug that is safe in S3 keys, DynamoDB keys, URLs and metric dimensions.
NAME_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]{0,62}$"
ALIAS_PATTERN: Final = r"^[a-z][a-z0-9_-]{0,31}$"


def dataset_version_prefix(dataset: str, version: str) -> str:
    """Where one dataset version's files live in the curated bucket."""
    return f"{DATASETS_PREFIX}{dataset}/{version}/"


def dataset_part_key(dataset: str, part_hash: str) -> str:
    """One Parquet part of a partitioned dataset version, named by its content hash: a Map child
    writes it before the version (a hash of all the parts) is known, and equal parts are stored once."""
    return f"{DATASETS_PREFIX}{dataset}/parts/{part_hash}.parquet"


def dataset_part_npz_key(dataset: str, part_hash: str) -> str:
    """The same part's columns as a single-file version's `data.npz` holds them: what training reads."""
    return f"{DATASETS_PREFIX}{dataset}/parts/{part_hash}.npz"


# A model trained elsewhere (`mlops models import`), stored by its content: models/<model>/imports/<sha256>/
# model.onnx or model.joblib. Under the model's prefix, so the training steps read it with the grant
# they have; the same file imported twice is one object.
IMPORTED_FORMATS: Final = ("onnx", "joblib")
# Bigger files are refused before upload and by the fit step (it holds the file, and a joblib file's
# unpickled model, in one Lambda's memory).
MAX_IMPORT_BYTES: Final = 100 * 1024 * 1024


def import_key(model: str, sha256: str, file_format: str) -> str:
    """Where an imported model file lives in the artifacts bucket: named by its sha256."""
    return f"{MODELS_PREFIX}{model}/imports/{sha256}/model.{file_format}"


def run_prefix(model: str, run_id: str) -> str:
    """Where one training run's artifacts live in the artifacts bucket."""
    return f"{MODELS_PREFIX}{model}/runs/{run_id}/"

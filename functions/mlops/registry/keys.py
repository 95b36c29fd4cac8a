"""The registry table's key layout: one DynamoDB table (single-table design), every item found by
`pk` and `sk`, and the lists an access pattern needs through one index, gsi1 (`gsi1pk`, `gsi1sk`).

Items, by kind (`kind` attribute), with their keys:
- dataset version:  pk DATASET#<dataset>, sk VERSION#<hash>; listed by acceptance time through gsi1
                    (DATASET#<dataset>#VERSIONS, `<created_at>#<hash>`).
- upload:           pk DATASET#<dataset>, sk UPLOAD#<key>#<s3 version>: how an upload ended, so a
                    redelivered S3 event is a no-op.
- upload folder:    pk DATASET#<dataset>, sk FOLDER#<raw/<dataset>/<upload>>: a multi-file upload as ingestion
                    saw it (its first and newest file, its commit marker's time once written, the newest
                    file reported). While it waits for its marker it is listed through gsi1
                    (UPLOAD_FOLDERS#OPEN, `<newest file at>#<folder>`), a sparse index: the scheduled check
                    queries the folders overdue, never the uploads kept before.
- feedback export:  pk DATASET#<dataset>, sk FEEDBACK#<key>: an upload the feedback loop wrote (its rows,
                    labels and versions) and the run its acceptance starts, if a performance check asked.
- model:            pk MODEL#<name>, sk META: the version counter; listed through gsi1 (MODELS, <name>).
- model version:    pk MODEL#<name>, sk VERSION#<000000n>; listed by status through gsi1
                    (MODEL#<name>#STATUS#<status>, VERSION#<000000n>).
- alias:            pk MODEL#<name>, sk ALIAS#<alias>: the version it names, the versions it named
                    before (for rollback) and a challenger's rollout.
- audit:            pk MODEL#<name>, sk AUDIT#<time>#<clock ns>#<id>: who, what, why, before, after
                    (append-only).
- serving policy:   pk MODEL#<name>, sk POLICY#serving: the policy the live versions answer under.
- drift result:     pk MODEL#<name>, sk DRIFT#<checked at>: one summary row per drift check.
- drift lease:      pk MODEL#<name>, sk LEASE#DRIFT: which drift check holds the model, and until when.
- label join:       pk MODEL#<name>, sk JOIN#labels: how far the join of labels with captured
                    predictions has read (its watermark), the hours it joins again, and its lease.
- performance result: pk MODEL#<name>, sk PERFORMANCE#<checked at>: one summary row per performance
                    check (labelled traffic scored per version and variant).
- feedback mark:    pk MODEL#<name>, sk FEEDBACK#watermark: the newest label arrival written as feedback.
- training run:     pk RUN#<run id>, sk META; listed by start time through gsi1
                    (DATASET#<dataset>#RUNS, `<started_at>#<run id>`).

Every write that creates something is conditional, so retries and races never overwrite. A list
answered in pages hands back its last key as an opaque token (`page`, `start_key`).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from typing import Any

from mlops.registry.errors import RegistryError

GSI1 = "gsi1"
KEY_ATTRIBUTES = ("pk", "sk", "gsi1pk", "gsi1sk")
META_SK = "META"
MODELS_PARTITION = "MODELS"  # gsi1pk of every model's META item
SERVING_POLICY_SK = "POLICY#serving"
DRIFT_LEASE_SK = "LEASE#DRIFT"
LABEL_JOIN_SK = "JOIN#labels"
FEEDBACK_WATERMARK_SK = "FEEDBACK#watermark"
OPEN_UPLOAD_FOLDERS = "UPLOAD_FOLDERS#OPEN"  # gsi1pk of an upload folder waiting for its commit marker
# sk prefixes a query lists a model's items of one kind by
VERSIONS = "VERSION#"
ALIASES = "ALIAS#"
AUDIT_EVENTS = "AUDIT#"
DRIFT_RESULTS = "DRIFT#"
PERFORMANCE_RESULTS = "PERFORMANCE#"


def table_definition(name: str) -> dict[str, Any]:
    """`create_table` arguments for a table with these keys (what infra/constructs/registry.py
    deploys): for tests and benchmarks that stand the table up in moto without the stack."""
    return {
        "TableName": name,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": "S"} for n in KEY_ATTRIBUTES],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": GSI1,
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }


# -- datasets ------------------------------------------------------------------------------------
def dataset_pk(dataset: str) -> str:
    return f"DATASET#{dataset}"


def dataset_version_sk(version: str) -> str:
    return f"{VERSIONS}{version}"


def dataset_versions_partition(dataset: str) -> str:
    return f"{dataset_pk(dataset)}#VERSIONS"


def dataset_version_order(created_at: str, version: str) -> str:
    """gsi1sk of a dataset version: acceptance time first, so the index lists them in that order."""
    return f"{created_at}#{version}"


def upload_sk(key: str, s3_version: str | None) -> str:
    return f"UPLOAD#{key}#{s3_version or 'null'}"


def upload_folder_sk(folder: str) -> str:
    return f"FOLDER#{folder}"


def open_folder_order(newest_at: str, folder: str) -> str:
    """gsi1sk of an open upload folder: its newest file's time first, so the overdue ones are one range."""
    return f"{newest_at}#{folder}"


def feedback_export_sk(key: str) -> str:
    return f"FEEDBACK#{key}"


def runs_partition(dataset: str) -> str:
    return f"{dataset_pk(dataset)}#RUNS"


# -- models --------------------------------------------------------------------------------------
def model_pk(name: str) -> str:
    return f"MODEL#{name}"


def version_sk(version: int) -> str:
    return f"{VERSIONS}{version:09d}"


def status_partition(name: str, status: str) -> str:
    """gsi1pk of a model's versions in one status: listing by status is a query, not a filtered scan."""
    return f"{model_pk(name)}#STATUS#{status}"


def alias_sk(alias: str) -> str:
    return f"{ALIASES}{alias}"


def audit_sk(at: str) -> str:
    """`at` orders events; the clock's nanoseconds order events given the same `at`."""
    return f"{AUDIT_EVENTS}{at}#{time.time_ns():020d}#{uuid.uuid4().hex[:8]}"


def drift_sk(checked_at: str) -> str:
    return f"{DRIFT_RESULTS}{checked_at}"


def performance_sk(checked_at: str) -> str:
    return f"{PERFORMANCE_RESULTS}{checked_at}"


def run_pk(run_id: str) -> str:
    return f"RUN#{run_id}"


# -- pages ---------------------------------------------------------------------------------------
def page(response: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    """A query's items and the token for the next page (its last key, encoded), None on the last."""
    key = response.get("LastEvaluatedKey")
    token = base64.urlsafe_b64encode(json.dumps(key, default=str).encode()).decode() if key else None
    return [dict(i) for i in response.get("Items", [])], token


def start_key(token: str | None, partition: dict[str, str]) -> dict[str, Any]:
    """The query's ExclusiveStartKey from a token `page` made for this same query (`partition`:
    the key value the query is on); anything else is the caller's mistake, never DynamoDB's error."""
    if not token:
        return {}
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError, RecursionError) as error:
        raise RegistryError("invalid", "next_token is not one this API returned") from error
    names = set(KEY_ATTRIBUTES) if "gsi1pk" in partition else {"pk", "sk"}
    if (
        not isinstance(key, dict)
        or set(key) != names
        or not all(isinstance(v, str) for v in key.values())
        or any(key[k] != v for k, v in partition.items())
    ):
        raise RegistryError("invalid", "next_token is not one this API returned")
    return {"ExclusiveStartKey": key}

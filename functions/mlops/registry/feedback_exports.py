"""The feedback loop on the registry table: per model, the newest label arrival already written as
training data (the watermark, so a labelled row is written once), and per upload the loop wrote,
what it holds and the training run its acceptance starts (a performance check's request).

The export record is written before its upload, so the ingest function, which may run as soon as
the object lands, always finds it; the watermark after, so a crash in between writes the same rows
again on the next run (the same key, hence no second dataset version) instead of losing them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlops.registry.keys import FEEDBACK_WATERMARK_SK, dataset_pk, feedback_export_sk, model_pk
from mlops.registry.numbers import from_dynamo


@dataclass(frozen=True)
class RequestedRun:
    """A training run a performance check asked for, started when its feedback upload is accepted
    (so the run trains on the feedback version): its execution name, reason and structured cause."""

    run_id: str
    reason: str
    cause: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FeedbackExport:
    """One upload the feedback loop wrote under `raw/<dataset>/`."""

    dataset: str
    key: str  # the raw bucket key
    model: str
    rows: int
    first_labelled_ms: int
    last_labelled_ms: int
    versions: tuple[int, ...]  # the model versions whose answers the rows were
    written_at: str
    retraining: RequestedRun | None = None

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": dataset_pk(self.dataset),
            "sk": feedback_export_sk(self.key),
            "kind": "feedback_export",
            "dataset": self.dataset,
            "key": self.key,
            "model": self.model,
            "rows": self.rows,
            "first_labelled_ms": self.first_labelled_ms,
            "last_labelled_ms": self.last_labelled_ms,
            "versions": list(self.versions),
            "written_at": self.written_at,
        }
        if self.retraining is not None:
            item["retraining"] = {
                "run_id": self.retraining.run_id,
                "reason": self.retraining.reason,
                "cause": dict(self.retraining.cause),
            }
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> FeedbackExport:
        plain: dict[str, Any] = from_dynamo(dict(item))
        requested = plain.get("retraining")
        return cls(
            dataset=str(plain["dataset"]),
            key=str(plain["key"]),
            model=str(plain["model"]),
            rows=int(plain["rows"]),
            first_labelled_ms=int(plain["first_labelled_ms"]),
            last_labelled_ms=int(plain["last_labelled_ms"]),
            versions=tuple(int(v) for v in plain.get("versions", [])),
            written_at=str(plain["written_at"]),
            retraining=RequestedRun(
                str(requested["run_id"]),
                str(requested["reason"]),
                {str(k): str(v) for k, v in (requested.get("cause") or {}).items()},
            )
            if requested
            else None,
        )


@dataclass(frozen=True)
class FeedbackWatermark:
    """The newest label arrival (ms since 1970, UTC) a feedback upload holds, and that upload."""

    model: str
    labelled_ms: int
    key: str
    rows: int
    written_at: str


@dataclass
class FeedbackExports:
    table: Any  # a boto3 DynamoDB Table resource

    def watermark(self, model: str) -> FeedbackWatermark | None:
        item = self.table.get_item(Key={"pk": model_pk(model), "sk": FEEDBACK_WATERMARK_SK}).get("Item")
        if not item:
            return None
        plain: dict[str, Any] = from_dynamo(dict(item))
        return FeedbackWatermark(
            model, int(plain["labelled_ms"]), str(plain["key"]), int(plain["rows"]), str(plain["written_at"])
        )

    def advance_watermark(self, mark: FeedbackWatermark) -> bool:
        """Move the model's watermark forward to `mark`; False (and nothing changed) when it is
        already there or past it: a rerun, or a concurrent export that got further."""
        try:
            self.table.put_item(
                Item={
                    "pk": model_pk(mark.model),
                    "sk": FEEDBACK_WATERMARK_SK,
                    "kind": "feedback_watermark",
                    "model": mark.model,
                    "labelled_ms": mark.labelled_ms,
                    "key": mark.key,
                    "rows": mark.rows,
                    "written_at": mark.written_at,
                },
                ConditionExpression="attribute_not_exists(pk) OR labelled_ms < :mark",
                ExpressionAttributeValues={":mark": mark.labelled_ms},
            )
        except self.table.meta.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def put_export(self, export: FeedbackExport) -> bool:
        """Record an upload before it is written. A rerun writing the same key finds its record and
        keeps it (False), except that a record without a requested run may gain one: the same rows
        exported on a schedule, then again by a check that asks for retraining."""
        try:
            self.table.put_item(
                Item=export.to_item(),
                ConditionExpression="attribute_not_exists(pk) OR attribute_not_exists(retraining)",
            )
        except self.table.meta.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def export(self, dataset: str, key: str) -> FeedbackExport | None:
        """The feedback loop's record of an upload; None for an upload the loop did not write."""
        item = self.table.get_item(Key={"pk": dataset_pk(dataset), "sk": feedback_export_sk(key)}).get("Item")
        return FeedbackExport.from_item(item) if item else None

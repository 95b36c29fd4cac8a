"""A model version's record: what a training run registers (`TrainedVersion`) and what the registry
holds once it has numbered it (`ModelVersion`), read from and written to the table's item here.

The item keeps the shape the register step has always written, so versions registered before these
classes existed read the same. Numbers are converted in mlops.registry.numbers; an attribute these
classes do not name is kept in `extra` and written back as it was. The standard library only:
serving reads these records, and carries no pydantic and no AWS SDK for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from mlops.registry.keys import KEY_ATTRIBUTES, model_pk, status_partition, version_sk
from mlops.registry.limits import readable_tags
from mlops.registry.numbers import from_dynamo, to_dynamo

VERSION_KIND = "model_version"


@dataclass(frozen=True, kw_only=True)
class TrainedVersion:
    """What a training run registers about the model it selected: everything but the version's
    number, which the registry allocates (ModelRegistry.register_version)."""

    status: str  # registered | pending_approval | rejected (archived later, by a person)
    metrics: Mapping[str, Any] = field(default_factory=dict)  # test-split figures by metric name
    gates: Mapping[str, Any] = field(default_factory=dict)  # the quality gate report
    parity: Mapping[str, Any] = field(default_factory=dict)  # ONNX against scikit-learn, and the candidates tried
    latency_ms: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)  # the selected candidate's parameters
    estimator: str | None = None
    artifacts: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # name -> {key, sha256}
    onnx_sha256: str | None = None  # what serving checks the fetched model.onnx against
    signature_key: str | None = None
    serving: Mapping[str, Any] = field(default_factory=dict)  # the config's serving policy
    retraining: Mapping[str, Any] | None = None  # None: drift is reported, nothing retrains
    monitoring: Mapping[str, Any] | None = None
    profile_key: str | None = None  # the reference profile drift compares captured traffic with
    dataset: str | None = None
    dataset_version: str | None = None  # the newest dataset version the run used
    training_data: Mapping[str, Any] | None = None  # every dataset version the run combined, with its uploads
    code_version: str | None = None  # the platform package's version
    code_asset_hash: str | None = None  # CDK's content hash of the functions' code asset that trained it
    config_key: str | None = None  # the training config as deployed (`mlops config deploy`) ...
    config_sha256: str | None = None  # ... and the digest of its bytes
    split_rows: Mapping[str, int] = field(default_factory=dict)  # train / validation / test rows
    parent_version: int | None = None  # the champion its gate compared it with
    tags: Mapping[str, str] = field(default_factory=dict)
    reason: str | None = None  # what started its run, in the run's words
    trigger: str | None = None  # manual | new_data | schedule | drift | performance | imported (training.start)
    # Permutation importance of each input field on the test split (mlops.training.importance):
    # {metric, rows, repeats, seed, features: [{feature, mean, std}], most important first}.
    feature_importance: Mapping[str, Any] | None = None
    # How the model came to be: "trained" here, or "imported" (`mlops models import`), with the file
    # it came from: {format, sha256, file_name, key}. None: registered before imports existed.
    origin: str | None = None
    imported_file: Mapping[str, Any] | None = None

    def attributes(self) -> dict[str, Any]:
        """The attributes a training run writes, each one (None as NULL), as DynamoDB takes them."""
        stored: dict[str, Any] = to_dynamo({f.name: getattr(self, f.name) for f in fields(TrainedVersion)})
        return stored


@dataclass(frozen=True, kw_only=True)
class ModelVersion(TrainedVersion):
    """One registered version of a model, as the registry holds it."""

    model: str
    version: int
    run_id: str | None = None  # None only in records made outside the registry (tests, benchmarks)
    created_at: str | None = None
    updated_at: str | None = None  # when its status last changed
    extra: Mapping[str, Any] = field(default_factory=dict)  # attributes not named above, as stored

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> ModelVersion:
        """The version in a stored item (the table's key attributes left out); KeyError names a
        missing `model`, `version` or `status`."""
        plain: dict[str, Any] = from_dynamo(dict(item))
        named = {f.name for f in fields(cls)} - {"extra"}
        known = {k: v for k, v in plain.items() if k in named and v is not None}
        known["tags"] = readable_tags(plain.get("tags"))  # a reader never fails on tags from before they were checked
        for section in ("metrics", "gates", "parity", "latency_ms", "params", "artifacts", "serving", "split_rows"):
            if not isinstance(known.get(section), Mapping):
                known.pop(section, None)
        return cls(
            **{**known, "model": str(plain["model"]), "version": int(plain["version"]), "status": str(plain["status"])},
            extra={k: v for k, v in plain.items() if k not in named and k not in (*KEY_ATTRIBUTES, "kind")},
        )

    def to_item(self) -> dict[str, Any]:
        """The stored item, keys included: the shape ModelRegistry.register_version writes."""
        identity = {
            "model": self.model,
            "version": self.version,
            "run_id": self.run_id,
            "created_at": self.created_at,
            **({"updated_at": self.updated_at} if self.updated_at is not None else {}),
        }
        return {
            "pk": model_pk(self.model),
            "sk": version_sk(self.version),
            "kind": VERSION_KIND,
            "gsi1pk": status_partition(self.model, self.status),
            "gsi1sk": version_sk(self.version),
            **to_dynamo(identity),
            **self.attributes(),
            **to_dynamo(dict(self.extra)),
        }

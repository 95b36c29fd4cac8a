"""`mlops config deploy`: training configs checked against their dataset's deployed contract and
scikit-learn, then deployed with their serving policy."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mlopsctl.commands import EXIT_OK, EXIT_REJECTED, CommandError, deployment_target, emit
from mlopsctl.commands.contracts import put_definition
from mlopsctl.target import Target


def config_deploy(args: argparse.Namespace) -> int:
    from mlops.training.config import load_training_config

    paths: list[Path] = args.paths or sorted(Path("configs").glob("*.y*ml"))
    if not paths:
        raise CommandError("no training configs given and none in ./configs")
    configs = [(path, load_training_config(path.read_text(), source=str(path))) for path in paths]
    target = deployment_target(args)
    bucket = target.output("ArtifactsBucketName")
    problems = [
        f"{path}: {field}: {message}" for path, config in configs for field, message in _config_problems(target, config)
    ]
    if problems:  # nothing is uploaded while any config is wrong
        print("error: not deployed; fix these first:\n  " + "\n  ".join(problems), file=sys.stderr)
        return EXIT_REJECTED
    deployed: list[dict[str, Any]] = []
    for path, config in configs:
        key = put_definition(target, "configs", config.dataset, path.suffix, path.read_bytes())
        before, after = deploy_serving_policy(target, config.dataset, config.serving.model_dump(mode="json"), key)
        deployed.append({"dataset": config.dataset, "key": key, "serving": {"before": before, "after": after}})
    emit(
        args,
        {"deployed": deployed, "config_cache": CONFIG_CACHE_NOTE},
        "\n".join(
            f"deployed training config for '{d['dataset']}' to s3://{bucket}/{d['key']}\n"
            f"  serving policy: {_policy_change(d['serving']['before'], d['serving']['after'])}; the live "
            f"version applies it {CONFIG_CACHE_NOTE} (audited: `mlops models audit {d['dataset']}`)"
            for d in deployed
        ),
    )
    return EXIT_OK


# The predict function re-reads a model's deployed serving policy this often (infra ServingSettings).
CONFIG_CACHE_NOTE = "within the predict function's policy cache time (serving.config_cache_seconds, 60 s by default)"
SERVING_FIELDS = ("out_of_range", "unseen_category", "capture_sample_rate")


def _policy_change(before: dict[str, Any] | None, after: dict[str, Any]) -> str:
    if before is None:
        return "was each version's own (none deployed), now " + ", ".join(
            f"{k} {_setting(after.get(k))}" for k in SERVING_FIELDS
        )
    changed = [
        f"{k} {_setting(before.get(k))} -> {_setting(after.get(k))}"
        for k in SERVING_FIELDS
        if before.get(k) != after.get(k)
    ]
    return ", ".join(changed) if changed else "unchanged"


def _setting(value: Any) -> str:
    """A policy field as a reader takes it: one the config leaves out is the deployment's default
    (`capture_sample_rate None` read as capture switched off)."""
    return "default" if value is None else str(value)


def deploy_serving_policy(
    target: Target, model: str, serving: dict[str, Any], key: str
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The config's serving section becomes the live versions' policy through the registry API,
    which stores it with its audit event in one transaction: (before, after)."""
    from mlopsctl.api import ApiError, call

    body = {**{k: serving.get(k) for k in SERVING_FIELDS}, "source": key, "reason": f"mlops config deploy {key}"}
    try:
        answer = call(target, "PUT", f"/v1/models/{model}/serving-policy", body)
    except ApiError as error:
        raise CommandError(
            f"{key} was uploaded (training reads it), but its serving policy was not deployed: {error}; "
            "the live versions keep their policy until `mlops config deploy` succeeds"
        ) from error
    return answer.get("before"), answer["after"]


def _config_problems(target: Target, config: Any) -> list[tuple[str, str]]:
    """The config against its dataset's deployed contract, and its parameters against scikit-learn."""
    from mlops.buckets import ArtifactsBucket
    from mlops.contracts import load_contract
    from mlops.training.candidates import parameter_problems
    from mlops.training.config import contract_problems

    found = ArtifactsBucket(target.client("s3"), target.output("ArtifactsBucketName")).contract_text(config.dataset)
    problems = parameter_problems(config)
    if found is None:
        return [
            ("dataset", f"no contract deployed for {config.dataset!r}: run `mlops contract deploy` first"),
            *problems,
        ]
    key, text = found
    contract = load_contract(text, source=key)
    columns = {column.name: column.type.value for column in contract.columns}
    allowed = {c.name: list(c.allowed_values.value) for c in contract.columns if c.allowed_values is not None}
    unique = {c.name for c in contract.columns if c.unique is not None and c.unique.value}
    found_problems = contract_problems(config, columns, dataset=contract.dataset, allowed_values=allowed, unique=unique)
    return found_problems + _version_problems(target, config) + problems


def _version_problems(target: Target, config: Any) -> list[tuple[str, str]]:
    """`data.versions` against the dataset's accepted versions: each must name exactly one."""
    from mlops.datasets.records import DatasetRecords
    from mlops.training.data_policy import match_versions

    if config.data.versions is None:
        return []
    table = DatasetRecords(target.resource("dynamodb").Table(target.output("RegistryTableName")))
    known = [v.version for v in table.all_dataset_versions(config.dataset)]
    return match_versions(config.data.versions, known)[1]

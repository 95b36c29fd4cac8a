"""`mlops models import`: register a model trained elsewhere. The file is uploaded to the artifacts
bucket by its sha256 and a run of the training pipeline is started with it as the one candidate, so
it is evaluated on the dataset version's test split and goes through the same parity, gates,
approval and rollout as a trained model (mlops.training.imported says what is refused, and why)."""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from mlopsctl.commands import CommandError, deployment_target
from mlopsctl.commands.runs import follow_to_the_end, require_training_config, resolve_dataset_version
from mlopsctl.target import Target
from mlopsctl.training_runs import start_run


def versions_of_file(target: Target, name: str, digest: str) -> list[int]:
    """The versions of model `name` imported from the file with this sha256, oldest first (none when
    the model has no versions yet)."""
    from mlopsctl.api import ApiError
    from mlopsctl.lifecycle import all_versions

    try:
        versions = all_versions(target, name)
    except ApiError as error:
        if error.status == 404:  # no model of that name yet: nothing imported either
            return []
        raise
    return sorted(int(v["version"]) for v in versions if (v.get("imported_file") or {}).get("sha256") == digest)


def import_model(args: argparse.Namespace) -> int:
    from mlops.names import IMPORTED_FORMATS, MAX_IMPORT_BYTES, import_key
    from mlops.training.start import ImportedFile

    path = Path(args.file)
    file_format = path.suffix.lower().removeprefix(".")
    if file_format not in IMPORTED_FORMATS:
        raise CommandError(
            f"{path.name}: expected an ONNX model (.onnx) or a scikit-learn model saved with joblib (.joblib)"
        )
    if not path.is_file():
        raise CommandError(f"{path}: no such file")
    size = path.stat().st_size
    if size > MAX_IMPORT_BYTES:
        raise CommandError(f"{path.name} is {size:,} bytes, over the {MAX_IMPORT_BYTES:,} bytes an import may be")
    target = deployment_target(args)
    require_training_config(target, args.name)
    version = resolve_dataset_version(target, args.name, args.dataset_version)
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    # A retried command must not quietly register the same bytes twice: refused unless --again.
    already = versions_of_file(target, args.name, digest)
    if already and not args.again:
        numbers = f"version{'s' if len(already) > 1 else ''} {', '.join(map(str, already))}"
        raise CommandError(
            f"the same file (sha256 {digest[:12]}) is already {numbers} of {args.name}; "
            "importing it again registers another version: pass --again to do so"
        )
    key = import_key(args.name, digest, file_format)
    target.client("s3").put_object(
        Bucket=target.output("ArtifactsBucketName"), Key=key, Body=data, ContentType="application/octet-stream"
    )
    imported = ImportedFile(key=key, sha256=digest, file_name=path.name, format=file_format)
    run = start_run(target, args.name, args.reason, version, imported=imported)
    if not args.json:
        print(f"started import run {run.run_id} for model {args.name}: {path.name} (sha256 {digest[:12]})")
    return follow_to_the_end(args, target, run)
